"""The run report: its model (report.json, a public contract), the threshold gate and its renderings.

A run directory holds ``items.jsonl`` (one line per gold item), ``report.json`` (this module's
``Report``), ``report.md``, ``report.html`` (self-contained: inline SVG charts, no script, no network)
and ``charts/*.vl.json`` (the same charts as Vega-Lite specs built with Altair, for notebooks and the UI).

Each line of items.jsonl (also a public contract) has: ``id``, ``kind``, ``persona``, ``question``;
``gold`` (the item's other gold fields: role, current_step, history, expected parts/cases/next step,
evidence, reference_answer); ``answer`` (exactly ``Answer.model_dump(mode="json")`` without ``state``:
text, citations, retrieved chunks in rank order with ids, parts, cases and text, refusal, next step,
timings); ``metrics`` (the item's value of each per-item metric, null where it does not apply);
``latency_ms``; ``passed`` (see ``ITEM_PASS_RULE``); ``failures`` (the reasons); ``error`` (what the
assistant raised, or null).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from evals.baselines import BASELINES
from evals.metrics import METRIC_NAMES, RETRIEVAL_NAMES
from evals.metrics.judge import JudgeResult

SCHEMA_VERSION = 1
DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.yaml")
TEMPLATES = Path(__file__).with_name("templates")
ITEMS_FILE, REPORT_FILE = "items.jsonl", "report.json"
ITEM_PASS_RULE = (
    "An item passes when every check that applies to it holds: an evidence snippet is in the top 5 "
    "retrieved chunks (items with evidence); the answer is not a refusal (items with evidence); the top "
    "chunk's part is an expected part (items with expected parts); every expected case is among the "
    "top-5 chunks' or the citations' cases (items with expected cases); the proposed next step is the "
    "expected one (items with an expected next step); the answer is a refusal (out_of_scope items); "
    "a conversation's last answer meets its expectation (multi_turn items); a told situation's condition is "
    "proposed or offered (situation items) and none is where nothing was told (neutral items); "
    "every citation quotes its chunk and its chunk is among the retrieved chunks (items with citations); "
    "and the assistant raised no error."
)
#: Short column labels of the breakdown tables.
SHORT: dict[str, str] = {
    "evidence_hit@1": "hit@1",
    "evidence_hit@3": "hit@3",
    "evidence_hit@5": "hit@5",
    "evidence_hit@10": "hit@10",
    "mrr@10": "mrr@10",
    "part_accuracy": "part",
    "case_recall": "cases",
    "next_step_accuracy": "next",
    "refusal_recall": "refused",
    "false_refusal_rate": "false ref.",
    "answer_evidence": "ans. evid.",
    "conversation_accuracy": "convers.",
    "situation_recall": "situation",
    "situation_misfires": "misfires",
    "citation_validity": "cit. valid",
    "groundedness": "grounded",
    "llm_fallback_rate": "LLM fallback",
    "reference_similarity": "ref. sim",
    "rouge_l": "rouge-L",
    "latency_ms_p50": "p50 ms",
    "latency_ms_p95": "p95 ms",
    "avg_retrieved_chars": "chars",
}
_UNBOUNDED = ("latency_ms_p50", "latency_ms_p95", "avg_retrieved_chars")  # not rates in [0, 1]


# -- the contract ------------------------------------------------------------------------------
class DatasetInfo(BaseModel):
    """Which gold file the run used."""

    path: str = ""
    sha256: str = ""
    items: int = 0


class ThresholdResult(BaseModel):
    """One gate: the rule, the measured value and whether it holds (``n/a`` when not measurable)."""

    metric: str
    rule: Literal["min", "max", "equals"]
    target: float
    value: float | None = None
    status: Literal["pass", "fail", "n/a"] = "n/a"

    @property
    def text(self) -> str:
        """The rule as text, e.g. ``>= 0.9``."""
        return {"min": "≥", "max": "≤", "equals": "="}[self.rule] + f" {self.target:g}"


class GroupItems(BaseModel):
    """How many items a breakdown group has and how many of them pass."""

    items: int = 0
    passed: int = 0


class BaselineReport(BaseModel):
    """A baseline's retrieval metrics on the same questions at the same depth."""

    description: str = ""
    chunks: int = 0
    metrics: dict[str, float | None] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    breakdowns: dict[str, dict[str, dict[str, float | None]]] = Field(default_factory=dict)


class Report(BaseModel):
    """report.json: everything needed to read, reproduce and gate on one evaluation run."""

    schema_version: int = SCHEMA_VERSION
    run_dir: str = ""
    created: str = ""
    duration_s: float = 0.0
    dataset: DatasetInfo = Field(default_factory=DatasetInfo)
    git_commit: str | None = None
    git_dirty: bool | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str | None] = Field(default_factory=dict)
    k: int = 10
    metrics: dict[str, float | None] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    thresholds: dict[str, ThresholdResult] = Field(default_factory=dict)
    passed: bool = False
    groundedness_method: str = ""
    item_pass_rule: str = ITEM_PASS_RULE
    items_passed: int = 0
    failed_items: list[str] = Field(default_factory=list)
    errored_items: list[str] = Field(default_factory=list)
    breakdowns: dict[str, dict[str, dict[str, float | None]]] = Field(default_factory=dict)
    breakdown_items: dict[str, dict[str, GroupItems]] = Field(default_factory=dict)
    baselines: dict[str, BaselineReport] = Field(default_factory=dict)
    judge: JudgeResult = Field(default_factory=JudgeResult)
    definitions: dict[str, str] = Field(default_factory=dict)

    def exit_code(self) -> int:
        """0 when every threshold holds and no item errored, else 1 (the CI gate)."""
        return 0 if self.passed else 1


def load_report(run_dir: str | Path) -> Report:
    """The report of a run directory (raises FileNotFoundError when it has none)."""
    path = Path(run_dir) / REPORT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {REPORT_FILE}: not an evaluation run directory")
    return Report.model_validate_json(path.read_text(encoding="utf-8"))


def load_items(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-item rows of a run directory, in dataset order."""
    path = Path(run_dir) / ITEMS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {ITEMS_FILE}: not an evaluation run directory")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- thresholds --------------------------------------------------------------------------------
class ThresholdError(ValueError):
    """The thresholds file is unreadable or names an unknown metric or rule."""


@dataclass(frozen=True)
class Rule:
    """A gate on one metric: ``min``, ``max`` or ``equals`` a target."""

    metric: str
    op: Literal["min", "max", "equals"]
    target: float


_OVER = re.compile(r"^(?P<metric>.+)_over_(?P<baseline>[a-z0-9]+)$")


def _known(metric: str) -> bool:
    """Report metrics, and ``<retrieval metric>_over_<baseline>`` (our value minus the baseline's)."""
    m = _OVER.match(metric)
    if m:
        return m["metric"] in RETRIEVAL_NAMES and m["baseline"] in BASELINES
    return metric in METRIC_NAMES


def load_thresholds(path: str | Path = DEFAULT_THRESHOLDS) -> list[Rule]:
    """Read ``metric: {min|max|equals: number}`` lines; raises ThresholdError naming the bad entry."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ThresholdError(f"{path.name}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise ThresholdError(f"{path.name}: must map metric names to rules")
    rules = []
    for metric, spec in data.items():
        where = f"{path.name}: {metric}"
        if not _known(str(metric)):
            raise ThresholdError(f"{where}: unknown metric: use one of {', '.join(METRIC_NAMES)}")
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ("min", "max", "equals"):
            raise ThresholdError(f"{where}: must be {{min: x}}, {{max: x}} or {{equals: x}}")
        op, target = next(iter(spec.items()))
        if isinstance(target, bool) or not isinstance(target, int | float):
            raise ThresholdError(f"{where}: {op} must be a number")
        rules.append(Rule(str(metric), op, float(target)))
    return rules


def gate_value(
    metric: str, metrics: Mapping[str, float | None], baselines: Mapping[str, Mapping[str, float | None]]
) -> float | None:
    """The value a gate reads: a report metric, or our value minus a baseline's for ``*_over_*``."""
    m = _OVER.match(metric)
    if not m:
        return metrics.get(metric)
    ours, theirs = metrics.get(m["metric"]), baselines.get(m["baseline"], {}).get(m["metric"])
    return None if ours is None or theirs is None else ours - theirs


def check_thresholds(
    rules: Sequence[Rule],
    metrics: Mapping[str, float | None],
    baselines: Mapping[str, Mapping[str, float | None]] | None = None,
) -> dict[str, ThresholdResult]:
    """Each rule's result; no applicable item (or no such baseline run) gives ``n/a``, not a failure."""
    out = {}
    for rule in rules:
        value = gate_value(rule.metric, metrics, baselines or {})
        status: Literal["pass", "fail", "n/a"] = "n/a"
        if value is not None:
            ok = {
                "min": value >= rule.target - 1e-9,
                "max": value <= rule.target + 1e-9,
                "equals": math.isclose(value, rule.target, abs_tol=1e-9),
            }[rule.op]
            status = "pass" if ok else "fail"
        out[rule.metric] = ThresholdResult(
            metric=rule.metric, rule=rule.op, target=rule.target, value=value, status=status
        )
    return out


# -- rendering ---------------------------------------------------------------------------------
def fmt(value: float | None, metric: str = "") -> str:
    """A metric value for people: rates with 3 decimals, milliseconds and characters as integers."""
    if value is None:
        return "—"
    if metric.split("_over_")[0] in _UNBOUNDED:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def ratio(ours: float | None, theirs: float | None) -> str:
    """Our value as a multiple of a baseline's (``—`` when undefined)."""
    if ours is None or not theirs:
        return "—"
    return f"{ours / theirs:.2f}×"


def _bar_chart(
    title: str,
    series: list[str],
    rows: list[tuple[str, list[float | None], float | None]],
    scale: float | None = None,
) -> dict[str, Any]:
    """Geometry-free data of one horizontal bar chart for the HTML template (values scaled to 0..1)."""
    # The scale covers every bar and every gate mark, so a gate above all bars is still drawn in place.
    shown = [v for _, values, marker in rows for v in (*values, marker) if v is not None]
    top = scale or max(shown, default=1.0) or 1.0
    return {
        "title": title,
        "series": series,
        "rows": [
            {
                "label": label,
                "bars": [
                    {"frac": 0.0 if v is None else max(0.0, min(1.0, v / top)), "text": fmt(v, label)}
                    for v in values
                ],
                "marker": None if marker is None else max(0.0, min(1.0, marker / top)),
            }
            for label, values, marker in rows
        ],
    }


def svg_charts(report: Report) -> list[dict[str, Any]]:
    """The charts of report.html as data: metrics vs gates, baselines, context budget, pass rate by kind."""
    gates = {r.metric: r.target for r in report.thresholds.values()}
    rates = [m for m in METRIC_NAMES if m not in _UNBOUNDED and report.metrics.get(m) is not None]
    names = list(report.baselines)
    charts = [
        _bar_chart(
            "Metrics (red mark: gate)",
            ["ours"],
            [(m, [report.metrics[m]], gates.get(m)) for m in rates],
            scale=1.0,
        ),
        _bar_chart(
            "Retrieval: ours vs baselines",
            ["ours", *names],
            [
                (m, [report.metrics.get(m), *(report.baselines[b].metrics.get(m) for b in names)], None)
                for m in RETRIEVAL_NAMES
                if m != "avg_retrieved_chars"
            ],
            scale=1.0,
        ),
        _bar_chart(
            "Context budget: average retrieved characters per chunk",
            ["ours", *names],
            [
                (
                    "avg_retrieved_chars",
                    [report.metrics.get("avg_retrieved_chars")]
                    + [report.baselines[b].metrics.get("avg_retrieved_chars") for b in names],
                    gates.get("avg_retrieved_chars"),
                )
            ],
        ),
        _bar_chart(
            "Items passing, by kind",
            ["ours"],
            [
                (kind, [g.passed / g.items if g.items else None], None)
                for kind, g in report.breakdown_items.get("kind", {}).items()
            ],
            scale=1.0,
        ),
    ]
    return [c for c in charts if c["rows"]]


def chart_specs(report: Report, items: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The report's charts as Vega-Lite specs (Altair), keyed by file stem."""
    import altair as alt

    rates = [
        {"metric": m, "value": v, "gate": report.thresholds[m].target if m in report.thresholds else None}
        for m in METRIC_NAMES
        if m not in _UNBOUNDED and (v := report.metrics.get(m)) is not None
    ]
    systems = {"ours": report.metrics, **{b: r.metrics for b, r in report.baselines.items()}}
    retrieval = [
        {"metric": m, "system": s, "value": values.get(m)}
        for s, values in systems.items()
        for m in RETRIEVAL_NAMES
        if values.get(m) is not None
    ]
    kinds = [
        {"kind": kind, "pass_rate": g.passed / g.items, "items": g.items}
        for kind, g in report.breakdown_items.get("kind", {}).items()
        if g.items
    ]
    latencies = [{"id": row["id"], "kind": row["kind"], "latency_ms": row["latency_ms"]} for row in items]
    base = alt.Chart(alt.Data(values=rates))
    metrics_chart = base.mark_bar().encode(
        x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("metric:N", sort=None)
    ) + base.mark_tick(color="red", thickness=2).encode(x="gate:Q", y=alt.Y("metric:N", sort=None))
    rate_metrics = [r for r in retrieval if r["metric"] != "avg_retrieved_chars"]
    charts = {
        "metrics": metrics_chart.properties(title="Metrics and gates"),
        "baselines": alt.Chart(alt.Data(values=rate_metrics))
        .mark_bar()
        .encode(x="metric:N", xOffset="system:N", y="value:Q", color="system:N")
        .properties(title="Retrieval: ours vs baselines"),
        "context_budget": alt.Chart(
            alt.Data(values=[r for r in retrieval if r["metric"] == "avg_retrieved_chars"])
        )
        .mark_bar()
        .encode(x="system:N", y=alt.Y("value:Q", title="avg retrieved chars"), color="system:N")
        .properties(title="Context budget"),
        "pass_rate_by_kind": alt.Chart(alt.Data(values=kinds))
        .mark_bar()
        .encode(x=alt.X("pass_rate:Q", scale=alt.Scale(domain=[0, 1])), y="kind:N", tooltip=["items:Q"])
        .properties(title="Items passing, by kind"),
        "latency": alt.Chart(alt.Data(values=latencies))
        .mark_bar()
        .encode(x=alt.X("latency_ms:Q", bin=alt.Bin(maxbins=30)), y="count():Q")
        .properties(title="Answer latency (ms)"),
    }
    return {name: chart.to_dict() for name, chart in charts.items()}


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    # A table cell of Markdown cannot hold a pipe or a line break.
    env.filters["cell"] = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
    return env


def render(report: Report, items: Sequence[Mapping[str, Any]], template: str) -> str:
    """A report rendered with one of the templates (``report.md.j2`` or ``report.html.j2``)."""
    failing = [row for row in items if not row["passed"]]
    return (
        _environment()
        .get_template(template)
        .render(
            r=report,
            metric_names=METRIC_NAMES,
            retrieval_names=RETRIEVAL_NAMES,
            short=SHORT,
            failing=failing,
            charts=svg_charts(report),
            ratio=ratio,
            colors=["#2563eb", "#9ca3af", "#f59e0b", "#10b981"],
        )
    )


def write_report(report: Report, run_dir: str | Path, items: Sequence[Mapping[str, Any]]) -> None:
    """Write report.json, report.md, report.html and charts/*.vl.json into the run directory."""
    run_dir = Path(run_dir)
    (run_dir / REPORT_FILE).write_text(report.model_dump_json(indent=2), encoding="utf-8")
    (run_dir / "report.md").write_text(render(report, items, "report.md.j2"), encoding="utf-8")
    (run_dir / "report.html").write_text(render(report, items, "report.html.j2"), encoding="utf-8")
    charts = run_dir / "charts"
    charts.mkdir(exist_ok=True)
    for name, spec in chart_specs(report, items).items():
        (charts / f"{name}.vl.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
