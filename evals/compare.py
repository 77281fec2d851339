"""Compare two evaluation runs: per-metric differences and the items whose pass/fail changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evals.metrics import METRIC_NAMES
from evals.report import Report, load_items, load_report


@dataclass(frozen=True)
class MetricDelta:
    """One metric in both runs and the change B − A (None when either run lacks it)."""

    metric: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        """B minus A (0 for differences below the reports' 6-decimal rounding)."""
        if self.a is None or self.b is None:
            return None
        return 0.0 if abs(self.b - self.a) < 1e-6 else self.b - self.a


@dataclass
class Comparison:
    """What changed from run A to run B."""

    a: Report
    b: Report
    metrics: list[MetricDelta] = field(default_factory=list)
    newly_failing: list[tuple[str, list[str]]] = field(default_factory=list)  # (id, B's failure reasons)
    newly_passing: list[str] = field(default_factory=list)
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)

    @property
    def same_dataset(self) -> bool:
        """Whether both runs used the same dataset bytes (otherwise differences mix two gold sets)."""
        return self.a.dataset.sha256 == self.b.dataset.sha256


def compare_runs(run_a: str | Path, run_b: str | Path) -> Comparison:
    """Metric deltas and pass→fail / fail→pass items between two run directories."""
    report_a, report_b = load_report(run_a), load_report(run_b)
    names = [m for m in METRIC_NAMES if m in report_a.metrics or m in report_b.metrics]
    comparison = Comparison(
        report_a, report_b, [MetricDelta(m, report_a.metrics.get(m), report_b.metrics.get(m)) for m in names]
    )
    items_a = {row["id"]: row for row in load_items(run_a)}
    items_b = {row["id"]: row for row in load_items(run_b)}
    for item_id, row in items_b.items():
        before = items_a.get(item_id)
        if before is None:
            comparison.only_in_b.append(item_id)
        elif before["passed"] and not row["passed"]:
            comparison.newly_failing.append((item_id, list(row["failures"])))
        elif not before["passed"] and row["passed"]:
            comparison.newly_passing.append(item_id)
    comparison.only_in_a = [i for i in items_a if i not in items_b]
    return comparison
