"""The top-k plot keeps optimizers apart: one axis per optimizer, since SGD's and Adam's peak
LRs are not on one scale; one optimizer keeps one axis."""

from __future__ import annotations

from lrsearch.plots import top_k_figure
from lrsearch.schedules import ScheduleSpec


def _spec(family: str, lr: float) -> ScheduleSpec:
    return ScheduleSpec.from_dict({"family": family, "lr": lr})


def test_each_optimizer_gets_its_own_axis() -> None:
    ranked = [
        ("#3", _spec("cosine", 0.1), "sgd"),
        ("#7", _spec("constant", 1e-3), "adamw"),
        ("#1", _spec("linear", 0.05), "sgd"),
    ]
    fig = top_k_figure(ranked, 200, title="top 3")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["sgd", "adamw"]
    peaks = [[max(line.get_ydata()) for line in ax.get_lines()] for ax in axes]
    assert [sorted(p) for p in peaks] == [[0.05, 0.1], [1e-3]]
    # Colours follow the rank across panels: #3 (first) and #7 (second) never share one.
    assert axes[0].get_lines()[0].get_color() != axes[1].get_lines()[0].get_color()


def test_one_optimizer_keeps_one_axis() -> None:
    ranked = [("#0", _spec("cosine", 0.1), "sgd"), ("#2", _spec("step", 0.2), "sgd")]
    fig = top_k_figure(ranked, 100, title="top 2")
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 2
