"""Evaluation: a run of ``handbook eval run``: thresholds, baselines, breakdowns and failed items."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import altair as alt
import pandas as pd
import streamlit as st

from assistant.settings import REPO_ROOT
from ui import state
from ui.components import escape, guarded

DEFAULT_DATASET = "evals/datasets/handbook.jsonl"
RUN_KEY = "evaluation-run"
OURS = "assistant"
BASELINE_GREYS = ("#9e9e9e", "#616161", "#bdbdbd", "#424242")
GATE_COLOURS: dict[str, Literal["green", "red", "gray"]] = {"pass": "green", "fail": "red"}


def runner() -> ModuleType | None:
    """``evals.run``, imported on first use (None while it is not part of this version)."""
    try:
        from evals import run
    except ImportError:
        return None
    return run


def baseline_names() -> list[str]:
    """The baselines the runner can run beside the assistant."""
    from evals.baselines import BASELINES

    return list(BASELINES)


def runs(data_dir: Path) -> list[Path]:
    """Run folders under ``<data_dir>/evals`` that hold a report.json, newest first (as ``latest_run``)."""
    root = data_dir / "evals"
    found = [p.parent for p in root.glob("*/report.json")] if root.is_dir() else []
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def metrics_table(report: Any) -> pd.DataFrame:
    """One row per metric: our value, its threshold and result, and each baseline's value."""
    names = list(report.metrics) + [m for m in report.thresholds if m not in report.metrics]
    rows = []
    for name in names:
        gate = report.thresholds.get(name)
        row: dict[str, Any] = {
            "metric": name,
            "value": report.metrics.get(name, gate.value if gate else None),
            "threshold": gate.text if gate else "",
            "result": gate.status if gate else "",
        }
        for baseline, result in report.baselines.items():
            row[f"baseline: {baseline}"] = result.metrics.get(name)
        rows.append(row)
    return pd.DataFrame(rows)


def breakdown_frame(report: Any, dimension: str) -> pd.DataFrame:
    """Long table (system, group, metric, value) of one breakdown, ours and the baselines'."""
    systems = {OURS: report.breakdowns, **{name: b.breakdowns for name, b in report.baselines.items()}}
    rows = [
        {"system": system, "group": group, "metric": metric, "value": value}
        for system, breakdowns in systems.items()
        for group, values in (breakdowns.get(dimension) or {}).items()
        for metric, value in values.items()
        if value is not None
    ]
    return pd.DataFrame(rows, columns=["system", "group", "metric", "value"])


def failures_table(items: list[dict[str, Any]]) -> pd.DataFrame:
    """Failed items: question, expected evidence, what was retrieved and which checks failed."""
    rows = []
    for item in items:
        if item.get("passed", True):
            continue
        retrieved = (item.get("answer") or {}).get("retrieved") or []
        rows.append(
            {
                "id": item.get("id", ""),
                "kind": item.get("kind", ""),
                "question": item.get("question", ""),
                "expected evidence": " | ".join((item.get("gold") or {}).get("evidence") or []),
                "retrieved (top 3)": " | ".join(
                    f"{c.get('part')}{' case ' + c['case'] if c.get('case') else ''}: "
                    f"{' '.join(str(c.get('text', '')).split()[:12])}…"
                    for c in retrieved[:3]
                ),
                "failures": "; ".join(map(str, item.get("failures") or [])),
            }
        )
    return pd.DataFrame(
        rows, columns=["id", "kind", "question", "expected evidence", "retrieved (top 3)", "failures"]
    )


def headline(report: Any, items: int) -> None:
    """Whether the gate passes, then a tile per threshold (value, rule, pass/fail)."""
    gates = list(report.thresholds.values())
    failed = [g.metric for g in gates if g.status == "fail"]
    summary = f"{report.items_passed} of {items or report.dataset.items} items passed"
    if report.passed:
        st.success(f"The gate passes: all {len(gates)} thresholds hold; {summary}.")
    else:
        st.error(escape(f"The gate fails ({', '.join(failed) or 'items errored'}); {summary}."))
    columns = st.columns(4)
    for i, gate in enumerate(gates):
        value = "n/a" if gate.value is None else f"{gate.value:.3f}"
        colour = GATE_COLOURS.get(gate.status, "gray")
        columns[i % 4].metric(
            gate.metric,
            value,
            delta=f"{gate.status} ({gate.text})",
            delta_color=colour,
            delta_arrow="off",
            border=True,
        )


def breakdown_chart(report: Any, dimension: str) -> None:
    """Grouped bars of one metric per group of a dimension, for us and the baselines."""
    frame = breakdown_frame(report, dimension)
    if frame.empty:
        st.caption(f"No breakdown per {dimension} in this run.")
        return
    metrics = sorted(frame["metric"].unique())
    default = metrics.index("evidence_hit@5") if "evidence_hit@5" in metrics else 0
    metric = st.selectbox("Metric", metrics, index=default, key=f"breakdown-{dimension}")
    systems = [OURS, *sorted(set(frame["system"]) - {OURS})]
    colours = ["#1565c0", *BASELINE_GREYS][: len(systems)]
    chart = (
        alt.Chart(frame[frame["metric"] == metric])
        .mark_bar()
        .encode(
            x=alt.X("group:N", title=dimension, sort=None),
            xOffset="system:N",
            y=alt.Y("value:Q", title=metric),
            # ours stands out; the baselines are greys
            color=alt.Color("system:N", title=None, scale=alt.Scale(domain=systems, range=colours)),
            tooltip=["system", "group", "value"],
        )
    )
    st.altair_chart(chart, width="stretch")


def start_run(evals: ModuleType, dataset: str, baselines: list[str]) -> None:
    """Run the suite on a dataset with a progress bar, then show the new run."""
    path = Path(dataset)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path
    bar = st.progress(0.0, text="Evaluating…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"Evaluating… {done}/{total}")

    assistant = state.get_assistant()
    report = evals.run_eval(
        path, state.settings(), k=assistant.settings.top_k, baselines=baselines, assistant=assistant,
        progress=progress,
    )  # fmt: skip
    bar.empty()
    st.session_state[RUN_KEY] = Path(report.run_dir).name


def render() -> None:
    """The Evaluation page."""
    st.title("Evaluation")
    evals = runner()
    if evals is None:
        st.info("The evaluation runner (evals/run.py) is not part of this version yet.")
        return
    with st.expander("Start a run"):
        dataset = st.text_input("Dataset (JSONL)", value=DEFAULT_DATASET, key="eval-dataset")
        names = baseline_names()
        baselines = st.multiselect("Baselines in the same run", names, default=names, key="eval-baselines")
        if st.button("Run evaluation", key="eval-start"):
            guarded(lambda: start_run(evals, dataset, baselines), "The evaluation run")
    found = runs(state.settings().data_dir)
    if not found:
        st.info(
            f"No evaluation runs yet: start one above or run `handbook eval run --dataset {DEFAULT_DATASET}`."
        )
        return
    names = [p.name for p in found]
    if st.session_state.get(RUN_KEY) not in names:
        st.session_state[RUN_KEY] = names[0]  # the latest run by default
    run = found[names.index(st.selectbox("Run", names, key=RUN_KEY))]
    report = evals.load_report(run)
    items = evals.load_items(run) if (run / "items.jsonl").is_file() else []
    st.caption(escape(f"{report.created} · dataset {report.dataset.path} · k = {report.k} · {run}"))
    headline(report, len(items))
    st.subheader("Metrics, thresholds and baselines")
    st.dataframe(metrics_table(report), hide_index=True, width="stretch")
    left, right = st.columns(2)
    with left:
        st.subheader("Per kind")
        breakdown_chart(report, "kind")
    with right:
        st.subheader("Per part")
        breakdown_chart(report, "part")
    st.subheader("Failed items")
    failed = failures_table(items)
    if failed.empty:
        st.success("No item failed.")
    else:
        st.dataframe(failed, hide_index=True, width="stretch")


render()
