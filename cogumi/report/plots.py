"""The report's plots: each category's headline metric against temperature for Phase 1A with every
trained model as a point at T_serve, and pass@k / majority@k curves. A model keeps one colour in
every panel and plot."""

from __future__ import annotations

from pathlib import Path

from cogumi.report.variants import colour, policy_name, title


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_frontier(report: dict, categories, path: Path) -> None:
    """One panel per category: the headline metric of Phase 1A by temperature, trained models at T_serve."""
    plt = _pyplot()
    names = list(report["frontier"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for axis, category in zip(axes[0], names):
        metric = categories[category].headline
        points = sorted((float(t), v[metric]) for t, v in report["frontier"][category].items() if metric in v)
        axis.plot([t for t, _ in points], [v for _, v in points], "-o", color=colour("before"), label=policy_name(report))
        for label in report["deltas"]:
            axis.plot([report["serve_temperature"]], [report[label][category][metric]], "*", markersize=12,
                      color=colour(label), label=title(label))
        axis.set_title(category)
        axis.set_xlabel("temperature")
        axis.set_ylabel(metric)
        axis.set_ylim(-0.02, 1.02)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(report: dict, path: Path) -> None:
    """pass@k (solid) and majority@k (dashed) against k, one panel per answer category."""
    plt = _pyplot()
    names = [c for c in report["frontier"] if any(c in by for by in report["curves"].values())]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(3.2 * max(1, len(names)), 3.2), squeeze=False)
    for axis, category in zip(axes[0], names):
        for label, by in report["curves"].items():
            if category not in by:
                continue
            ks = range(1, len(by[category]["pass@k"]) + 1)
            axis.plot(ks, by[category]["pass@k"], "-", color=colour(label), label=title(label))
            axis.plot(ks, by[category]["majority@k"], "--", color=colour(label))
        axis.set_title(f"{category}: pass@k —, majority@k --", fontsize=8)
        axis.set_xlabel("k")
        axis.set_ylim(-0.02, 1.02)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
