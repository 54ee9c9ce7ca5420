"""The losses the new LoRA can be trained with (``train.loss``), pure functions over logits.

Each takes the model's logits on a batch of kept completions, the labels (``-100`` where no loss is
taken), and each token's training temperature ``tau``; ``LOSSES`` says what each needs and
computes it from one ``LossInputs``. The design's meaning of a training temperature is in
docs/design.md ("Training temperature").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE = -100


def _completion(logits: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor):
    """The next-token logits at the positions a loss is taken on (``labels`` shifted, not -100),
    with their targets and the scale of each (one per sequence ``(batch,)`` or per token): only these
    rows of the vocabulary-wide logits are ever turned into fp32, the prompt's are left alone."""
    if scale.dim() == 1:
        scale = scale[:, None].expand_as(labels)
    mask = labels[:, 1:] != IGNORE
    return logits[:, :-1][mask], labels[:, 1:][mask], scale[:, 1:][mask].to(torch.float32)


def _mean(loss: torch.Tensor, num_items, targets: torch.Tensor) -> torch.Tensor:
    """``loss`` over ``num_items`` (the trainer's count over an accumulated step), else over the
    batch's own completion tokens (``targets``)."""
    count = num_items if num_items is not None else targets.numel()
    return loss / torch.as_tensor(count, device=loss.device).clamp(min=1)


def scaled_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor,
                         num_items: torch.Tensor | int | None = None) -> torch.Tensor:
    """Causal-LM cross-entropy of ``softmax(logits * scale)`` against the next token.

    ``labels`` are the unshifted input ids with ``-100`` where no loss is taken; ``scale`` is one
    factor per sequence ``(batch,)`` or per token ``(batch, seq)``. The sum is divided by
    ``num_items`` (the trainer's count over a whole accumulated step) or by the batch's own count.
    """
    picked, targets, scale = _completion(logits, labels, scale)
    loss = F.cross_entropy(picked.float() * scale[:, None], targets, reduction="sum")
    return _mean(loss, num_items, targets)


def decoupled_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor, tau_scale: torch.Tensor,
                            num_items: torch.Tensor | int | None = None) -> torch.Tensor:
    """Plain cross-entropy of the unscaled model (``logits / scale``, through which no gradient
    reaches ``scale``) plus the temperature-scaled cross-entropy of ``scale`` alone on those logits,
    detached (``tau_scale``: tau / serve_temperature per token). The LoRA then learns the completions
    at full strength, as plain SFT does, and the scale learns how sharp to make them."""
    picked, targets, taus = _completion(logits, labels, tau_scale)
    unscaled = picked.float() / scale  # d(scale * l / scale) / d(scale) is 0: the LoRA's term leaves the scale alone
    plain = F.cross_entropy(unscaled, targets, reduction="sum")
    sharp = F.cross_entropy(unscaled.detach() * (scale * taus[:, None]), targets, reduction="sum")
    return _mean(plain + sharp, num_items, targets)


def teacher_cross_entropy(logits: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, tau: torch.Tensor,
                          serve_temperature: float, tau_min: float,
                          num_items: torch.Tensor | int | None = None) -> torch.Tensor:
    """Cross-entropy of the student sampled at ``serve_temperature`` against the teacher (Phase 1A)
    at each token's training temperature ``tau``: ``softmax(teacher / tau)``, or the teacher's argmax
    where ``tau`` is below ``tau_min`` (Phase 1A's greedy choice). Taken on the completion tokens
    (``labels`` not -100), next-token shifted like ``scaled_cross_entropy``."""
    student, targets, taus = _completion(logits, labels, tau)
    target_logits = _completion(teacher, labels, tau)[0].float()
    taus = taus[:, None]
    greedy = F.one_hot(target_logits.argmax(-1), target_logits.size(-1)).float()
    soft = torch.softmax(target_logits / taus.clamp(min=tau_min), dim=-1)
    target = torch.where(taus < tau_min, greedy, soft)
    loss = -(target * torch.log_softmax(student.float() / serve_temperature, dim=-1)).sum()
    return _mean(loss, num_items, targets)


def sharpness_cross_entropy(unscaled: torch.Tensor, sharpened: torch.Tensor, teacher: torch.Tensor,
                             labels: torch.Tensor, tau: torch.Tensor, serve_temperature: float, tau_min: float,
                             num_items: torch.Tensor | int | None = None) -> torch.Tensor:
    """The LoRA learns the kept completions by plain cross-entropy of ``unscaled`` (the logits through
    the original final norm); the learned final norm, per hidden dimension, learns each token's
    sharpness from ``sharpened`` (its logits on the LoRA's hidden states, detached): where tau is at
    ``tau_min`` (answers) the kept token sharpened to tau, where above (creative writing) Phase 1A's
    distribution at tau, both seen at ``serve_temperature``."""
    exact = tau <= tau_min  # training_examples floors tau at tau_min
    loss = scaled_cross_entropy(unscaled, labels, torch.ones_like(tau), num_items)
    answers = torch.where(exact, labels, IGNORE)
    loss = loss + scaled_cross_entropy(sharpened, answers, tau / serve_temperature, num_items)
    writing = torch.where(exact, IGNORE, labels)
    if (writing != IGNORE).any():
        loss = loss + teacher_cross_entropy(sharpened, teacher, writing, tau, serve_temperature, tau_min, num_items)
    return loss


@dataclass
class LossInputs:
    """What one training step hands a loss."""

    logits: torch.Tensor
    """The model's logits (with its new adapter and learned scale)."""
    labels: torch.Tensor
    tau: torch.Tensor
    """Each token's training temperature."""
    serve_temperature: float
    tau_min: float
    num_items: torch.Tensor | int | None
    scale: torch.Tensor | None = None
    """The learned logit scale (``needs_scale``)."""
    teacher: torch.Tensor | None = None
    """Phase 1A's logits: the model with its new adapter switched off (``needs_teacher``)."""
    unscaled: torch.Tensor | None = None
    """The logits through the original final norm (``needs_norm_views``)."""
    sharpened: torch.Tensor | None = None
    """The logits through the learned final norm on detached hidden states (``needs_norm_views``)."""


@dataclass(frozen=True)
class Loss:
    """One ``train.loss``: what it needs of a training step, and the loss it computes."""

    compute: Callable[[LossInputs], torch.Tensor]
    needs_teacher: bool = False
    needs_norm_views: bool = False
    needs_scale: bool = False


def _tau_scale(x: LossInputs) -> torch.Tensor:
    return x.tau.clamp(min=x.tau_min) / x.serve_temperature


LOSSES = {
    "scaled": Loss(lambda x: scaled_cross_entropy(x.logits, x.labels, _tau_scale(x), x.num_items)),
    "teacher": Loss(lambda x: teacher_cross_entropy(x.logits, x.teacher, x.labels, x.tau, x.serve_temperature,
                                                    x.tau_min, x.num_items), needs_teacher=True),
    "decoupled": Loss(lambda x: decoupled_cross_entropy(x.logits, x.labels, x.scale, _tau_scale(x), x.num_items),
                      needs_scale=True),
    "sharpness": Loss(lambda x: sharpness_cross_entropy(x.unscaled, x.sharpened, x.teacher, x.labels, x.tau,
                                                        x.serve_temperature, x.tau_min, x.num_items),
                      needs_teacher=True, needs_norm_views=True),
}
