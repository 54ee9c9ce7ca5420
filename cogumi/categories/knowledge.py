"""Knowledge: a short answer matched against the reference and its aliases; greedy distill."""

from __future__ import annotations

from cogumi.categories.base import Category, Decoding


class Knowledge(Category):
    name = "knowledge"
    default_decoding = Decoding(0.0, 1, 96)
    default_training_temperature = 0.0
    fields = ("prompt", "answer")
    tiny_world = True
    position = 4

    def judge_one(self, problem, text, finished):
        from cogumi.verify.answers import extract_short_answer, matches
        from cogumi.verify.reference import against_reference

        return against_reference(problem, extract_short_answer(text),
                                 lambda answer: matches(answer, (problem.answer, *problem.aliases)))
