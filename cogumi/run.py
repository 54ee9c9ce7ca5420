"""The run folder: the one object that knows where each file of an experiment lies. Stages ask it
for paths and never join strings themselves.

    <output_dir>/
      run.json                  the model the run is bound to (another model needs another folder)
      run.lock                  held by the command working on the run (one at a time)
      config.json, versions.json the resolved config and package versions of the latest command
      stages/<stage>.json       each stage's fingerprint: the settings its output was made with
      timings.json              seconds per finished stage
      problems/distill.jsonl, problems/overlap.json
      raw/<category>.jsonl      generated samples with batch markers (resumable)
      data/<category>_distilled.jsonl, data/audit.json
      raw_rft/, data_rft/, data_unverified/   the rft and no-verification ablations' samples and data
      merged_policy/            base + Phase 1A merged once (absent when there is no adapter)
      <variant>/adapter/ (with train_log.json), <variant>/checkpoints/, <variant>/merged/
                                train (distilled), train_plain, train_unverified, train_rft
      benchmark/<model>.jsonl   per-problem records (benchmark_distill/ for the distill split)
      report.json, report.md, report.png, report_curves.png
      logs/                     tracebacks of failed commands
"""

from __future__ import annotations

from pathlib import Path

from cogumi.report.variants import VARIANTS, split_variant


class RunFolder:
    """Paths of one experiment's output folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    # run-level files
    @property
    def binding(self) -> Path:
        return self.root / "run.json"

    @property
    def lock(self) -> Path:
        return self.root / "run.lock"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def versions(self) -> Path:
        return self.root / "versions.json"

    @property
    def timings(self) -> Path:
        return self.root / "timings.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def stage_record(self, stage: str) -> Path:
        return self.root / "stages" / f"{stage}.json"

    # generate and filter
    def problems(self, split: str) -> Path:
        return self.root / "problems" / f"{split}.jsonl"

    @property
    def overlap(self) -> Path:
        return self.root / "problems" / "overlap.json"

    def raw(self, category: str) -> Path:
        return self.root / "raw" / f"{category}.jsonl"

    def data_dir(self, data: str = "data") -> Path:
        """A data folder: ``data`` (the filter's), or an ablation's (``Variant.data``)."""
        return self.root / data

    def distilled(self, category: str, data: str = "data") -> Path:
        """A category's training examples in the data folder ``data``."""
        return self.data_dir(data) / f"{category}_distilled.jsonl"

    def raw_rft(self, category: str) -> Path:
        return self.root / "raw_rft" / f"{category}.jsonl"

    def audit(self, data: str = "data") -> Path:
        """What the filter kept and rejected, in the data folder ``data``."""
        return self.data_dir(data) / "audit.json"

    # train
    def train_dir(self, variant: str) -> Path:
        name, seed = split_variant(variant)
        return self.root / (VARIANTS[name].folder + (f"_seed{seed}" if seed is not None else ""))

    def adapter(self, variant: str) -> Path:
        return self.train_dir(variant) / "adapter"

    def train_log(self, variant: str) -> Path:
        """What training a variant recorded (examples, logit scale, history); written last, so its
        presence marks a complete adapter."""
        return self.adapter(variant) / "train_log.json"

    def merged_variant(self, variant: str) -> Path:
        """A trained variant merged into the weights (what the vLLM engine serves)."""
        return self.train_dir(variant) / "merged"

    def checkpoints(self, variant: str) -> Path:
        return self.train_dir(variant) / "checkpoints"

    @property
    def merged_policy(self) -> Path:
        return self.root / "merged_policy"

    # benchmark and report
    def results_dir(self, split: str) -> Path:
        """Per-problem records: ``benchmark/`` for the held-out split, ``benchmark_distill/`` for the distill split."""
        return self.root / ("benchmark" if split == "benchmark" else "benchmark_distill")

    def records(self, split: str, model: str) -> Path:
        return self.results_dir(split) / f"{model}.jsonl"

    def report_dir(self, split: str) -> Path:
        """The held-out report lies in the run folder itself; the distill split's beside its records."""
        return self.root if split == "benchmark" else self.results_dir(split)

    def report_files(self, split: str) -> list[Path]:
        """``report.json``, ``report.md``, ``report.png`` (the frontier) and ``report_curves.png``."""
        folder = self.report_dir(split)
        return [folder / name for name in ("report.json", "report.md", "report.png", "report_curves.png")]
