"""Evaluation suite: each metric on hand-made answers, thresholds, compare, export, the CLI contract,
and (slow) the full runner on the real gold set with both baselines."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.assistant import Assistant
from assistant.state import Answer, Citation, ConversationState, NextStep, RetrievedChunk, Turn
from evals.cli import eval_app, print_summary
from evals.compare import compare_runs
from evals.dataset import GoldItem, load_dataset
from evals.export import export_run
from evals.metrics import METRIC_NAMES, RETRIEVAL_NAMES, Sample, score_samples
from evals.metrics.budget import AvgRetrievedChars
from evals.metrics.cases import CaseRecall
from evals.metrics.citations import CitationValidity
from evals.metrics.evidence import EvidenceHit, MeanReciprocalRank
from evals.metrics.fallback import LLMFallbackRate
from evals.metrics.groundedness import Groundedness
from evals.metrics.judge import skip_reason
from evals.metrics.latency import LatencyPercentile, percentile
from evals.metrics.next_step import NextStepAccuracy
from evals.metrics.parts import PartAccuracy
from evals.metrics.refusal import FalseRefusalRate, RefusalRecall
from evals.metrics.similarity import ReferenceSimilarity, RougeL, lcs_length, rouge_l
from evals.report import (
    DEFAULT_THRESHOLDS,
    Report,
    ThresholdError,
    check_thresholds,
    load_report,
    load_thresholds,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "evals" / "datasets" / "handbook.jsonl"
SNIPPET = "partners with complementary skills"
FILLER = "Clusters grow through cooperation between firms and universities."


# -- hand-made inputs ------------------------------------------------------------------------
def gold(**overrides: Any) -> GoldItem:
    """A valid gold item with evidence, with overrides."""
    base: dict[str, Any] = {
        "id": "x1",
        "persona": "cluster_manager",
        "kind": "fact",
        "question": "How do we pick partners?",
        "expected_parts": ["step-6"],
        "expected_cases": [],
        "evidence": [SNIPPET],
        "expected_next_step": None,
        "reference_answer": "Pick partners with complementary skills.",
    }
    return GoldItem.model_validate(base | overrides)


def chunk(
    text: str = FILLER, part: str = "step-1", case: str | None = None, cid: str | None = None
) -> RetrievedChunk:
    """A retrieved chunk."""
    return RetrievedChunk(
        chunk_id=cid or f"c-{abs(hash((text, part, case)))}", part=part, case=case, score=1.0, text=text
    )


def evidence_at(rank: int, total: int = 10) -> list[RetrievedChunk]:
    """``total`` chunks with the evidence (split over a line break) at 1-based ``rank``."""
    return [
        chunk("Choose partners with\ncomplementary Skills early.", "step-6", cid=f"e{i}")
        if i == rank
        else chunk(f"{FILLER} ({i})", cid=f"f{i}")
        for i in range(1, total + 1)
    ]


def cite(n: int, c: RetrievedChunk, quote: str) -> Citation:
    """A citation of a chunk."""
    return Citation(n=n, chunk_id=c.chunk_id, quote=quote, part=c.part, case=c.case, text=c.text)


def sample(item: GoldItem | None = None, k: int = 10, latency: float = 0.0, **answer: Any) -> Sample:
    """A sample of an item and a hand-made answer."""
    item = item or gold()
    return Sample(item, Answer(question=item.question, **({"text": ""} | answer)), latency, k)


def value(metric: Any, s: Sample) -> float | None:
    """A metric's value on one sample (None when it does not apply)."""
    score = metric.score(s)
    return None if score is None else score.value


# -- retrieval ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rank", "hits", "rr"),
    [(1, (1, 1, 1, 1), 1.0), (3, (0, 1, 1, 1), 1 / 3), (6, (0, 0, 0, 1), 1 / 6)],
)
def test_evidence_hit_and_mrr_by_rank(rank: int, hits: tuple[int, ...], rr: float) -> None:
    s = sample(retrieved=evidence_at(rank))
    assert tuple(value(EvidenceHit(k), s) for k in (1, 3, 5, 10)) == hits
    assert value(MeanReciprocalRank(), s) == pytest.approx(rr)


def test_evidence_missing_past_10_and_not_applicable() -> None:
    far = sample(k=20, retrieved=evidence_at(11, total=20))
    assert value(EvidenceHit(10), far) == 0 and value(MeanReciprocalRank(), far) == 0
    # The run's depth bounds what counts: at k=5 evidence at rank 6 is not retrieved.
    assert value(EvidenceHit(10), sample(k=5, retrieved=evidence_at(6))) == 0
    none = sample(gold(evidence=[]), retrieved=evidence_at(1))
    assert value(EvidenceHit(5), none) is None and value(MeanReciprocalRank(), none) is None
    miss = sample(retrieved=evidence_at(6))
    score = EvidenceHit(5).score(miss)
    assert score is not None
    assert EvidenceHit(5).failure(miss, score) == "evidence not in the top 5 chunks (first at rank 6)"
    assert EvidenceHit(3).failure(miss, score) is None  # only the top-5 check decides an item


def test_aggregates_are_means_over_applicable_items() -> None:
    samples = [
        sample(retrieved=evidence_at(1)),
        sample(retrieved=evidence_at(6)),
        sample(gold(evidence=[]), retrieved=evidence_at(1)),
        sample(retrieved=evidence_at(3)),
    ]
    table = score_samples([EvidenceHit(5), MeanReciprocalRank()], samples)
    assert table.aggregate()["evidence_hit@5"] == pytest.approx(2 / 3)
    assert table.aggregate()["mrr@10"] == pytest.approx((1 + 1 / 6 + 1 / 3) / 3)
    assert table.counts() == {"evidence_hit@5": 3, "mrr@10": 3}
    assert table.aggregate([2])["evidence_hit@5"] is None  # a group nothing applies to
    assert table.values(2) == {"evidence_hit@5": None, "mrr@10": None}
    assert table.failures[1] and not table.failures[0]


def test_part_accuracy() -> None:
    item = gold(expected_parts=["step-6", "step-7"])
    assert value(PartAccuracy(), sample(item, retrieved=[chunk(part="step-7"), chunk(part="step-1")])) == 1
    wrong = sample(item, retrieved=[chunk(part="step-1"), chunk(part="step-6")])
    score = PartAccuracy().score(wrong)
    assert score is not None and score.value == 0
    assert PartAccuracy().failure(wrong, score) == "top chunk is from step-1, expected step-6 or step-7"
    assert value(PartAccuracy(), sample(item)) == 0  # nothing retrieved
    assert value(PartAccuracy(), sample(gold(expected_parts=[]), retrieved=[chunk()])) is None


def test_case_recall_counts_top5_and_citations() -> None:
    item = gold(expected_cases=["7a", "17"])
    top = [chunk(case="7a")] + [chunk(f"{FILLER} {i}") for i in range(4)]
    cited = chunk("Case 17 text", part="step-7", case="17")
    assert (
        value(CaseRecall(), sample(item, retrieved=[*top, cited], citations=[cite(1, cited, "Case 17 text")]))
        == 1
    )
    # Case 17 at rank 6 and not cited: half the expected cases are found.
    half = sample(item, retrieved=[*top, cited])
    assert value(CaseRecall(), half) == 0.5
    score = CaseRecall().score(half)
    assert score is not None and "17" in (CaseRecall().failure(half, score) or "")
    assert value(CaseRecall(), sample(gold(), retrieved=top)) is None


def test_next_step_accuracy() -> None:
    item = gold(kind="next_step", expected_next_step=6)
    proposal = NextStep(step=6, title="Identify Partners", reason="r", quote="q", kind="forward")
    assert value(NextStepAccuracy(), sample(item, next_step=proposal)) == 1
    wrong = sample(item, next_step=proposal.model_copy(update={"step": 5}))
    score = NextStepAccuracy().score(wrong)
    assert (
        score is not None and NextStepAccuracy().failure(wrong, score) == "proposed Step 5, expected Step 6"
    )
    assert value(NextStepAccuracy(), sample(item)) == 0
    assert value(NextStepAccuracy(), sample(gold())) is None


def test_refusal_recall_and_false_refusal_rate() -> None:
    oos = gold(kind="out_of_scope", expected_parts=[], evidence=[])
    samples = [
        sample(oos, refused=True),
        sample(oos, refused=False),
        sample(gold(), refused=True),
        sample(gold(), refused=False),
        sample(gold(), refused=False),
        sample(gold(), refused=False),
    ]
    table = score_samples([RefusalRecall(), FalseRefusalRate()], samples)
    assert table.aggregate() == {"refusal_recall": 0.5, "false_refusal_rate": 0.25}
    assert table.counts() == {"refusal_recall": 2, "false_refusal_rate": 4}
    assert table.failures[1] == ["answered an out-of-scope question instead of refusing"]
    assert table.failures[2] == ["refused a question the handbook answers"]


def test_llm_fallback_rate_counts_only_answers_asked_of_the_model() -> None:
    samples = [
        sample(text="Worded by the model [1].", backend="llm", timings_ms={"llm_ms": 900.0}),
        sample(
            text="Extractive [1].", notice="…showing the extractive answer.", timings_ms={"llm_ms": 60_000.0}
        ),
        sample(text="Extractive, no model configured [1]."),
    ]
    table = score_samples([LLMFallbackRate()], samples)
    assert table.aggregate() == {"llm_fallback_rate": 0.5}
    assert table.counts() == {"llm_fallback_rate": 2}
    assert score_samples([LLMFallbackRate()], samples[2:]).aggregate() == {"llm_fallback_rate": None}


def test_citation_validity_catches_bad_quote_and_unretrieved_chunk() -> None:
    a = chunk("Partners must be complementary. Trust takes time to build.", cid="a")
    b = chunk("Funding comes from regional programmes.", cid="b")
    elsewhere = chunk("A chunk the answer does not carry.", cid="z")
    citations = [
        cite(
            1, a, "Partners must be complementary. … Trust takes time to build."
        ),  # valid: ellipsis joins parts
        cite(2, b, "Funding comes from the moon."),  # quote not in its chunk
        cite(3, elsewhere, "A chunk the answer does not carry."),  # chunk not retrieved
    ]
    s = sample(retrieved=[a, b], citations=citations)
    score = CitationValidity().score(s)
    assert score is not None and score.value == pytest.approx(1 / 3) and score.weight == 3
    failure = CitationValidity().failure(s, score) or ""
    assert "citation [2]: its quote is not in its chunk" in failure
    assert "citation [3]: its chunk is not among the retrieved chunks" in failure
    assert "[1]" not in failure
    # Aggregated per citation, not per item.
    good = sample(retrieved=[a], citations=[cite(1, a, "Trust takes time to build.")])
    table = score_samples([CitationValidity()], [s, good, sample()])
    assert table.aggregate()["citation_validity"] == pytest.approx(2 / 4)
    assert table.counts()["citation_validity"] == 2


def test_groundedness_checks_claims_against_cited_chunks() -> None:
    a = chunk("Partners must have complementary skills and shared goals.", cid="a")
    text = (
        "Steps for partners:\n"
        "Partners need complementary skills and shared goals [1]. The moon is made of green cheese [1].\n"
        "Which step are you on?"
    )
    s = sample(text=text, retrieved=[a], citations=[cite(1, a, a.text)])
    score = Groundedness(0.5).score(s)
    assert score is not None and score.value == 0.5 and score.weight == 2
    assert Groundedness(0.5).score(sample(text=text, refused=True)) is None


def test_rouge_l_known_values() -> None:
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge_l("the cat sat on the mat", "the cat on the mat") == pytest.approx(10 / 11)
    assert rouge_l("The Cat, sat!", "the cat sat") == 1.0
    assert rouge_l("alpha beta", "gamma delta") == 0.0
    assert rouge_l("", "anything") == 0.0
    # Citation marks are not content; an empty answer is not scored.
    marked = sample(gold(reference_answer="the cat on the mat"), text="the cat sat on the mat [1]")
    assert value(RougeL(), marked) == pytest.approx(10 / 11)
    assert value(RougeL(), sample(text="")) is None


class FakeEmbeddings:
    """Deterministic 'embeddings': letter counts of a, b, c (enough to test the cosine)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(t.count(ch)) for ch in "abc"] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_reference_similarity_is_cosine_of_embeddings() -> None:
    metric = ReferenceSimilarity(FakeEmbeddings())
    samples = [sample(gold(reference_answer="ab"), text="aab [1]"), sample(text="")]
    table = score_samples([metric], samples)
    assert table.aggregate()["reference_similarity"] == pytest.approx(3 / (math.sqrt(5) * math.sqrt(2)))
    assert table.counts()["reference_similarity"] == 1


def test_latency_percentiles_and_budget() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([], 50) is None
    samples = [sample(latency=ms, retrieved=[chunk("x" * n) for n in lengths]) for ms, lengths in
               ((100, (100, 300)), (300, (600,)), (200, ()))]  # fmt: skip
    table = score_samples([LatencyPercentile(50), AvgRetrievedChars()], samples)
    assert table.aggregate() == {"latency_ms_p50": 200, "avg_retrieved_chars": pytest.approx(1000 / 3)}
    assert "latency_ms_p50" not in table.values(0)  # a percentile is not an item value


# -- thresholds --------------------------------------------------------------------------------
def test_thresholds_gate(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "evidence_hit@5: {min: 0.8}\nfalse_refusal_rate: {max: 0.05}\nnext_step_accuracy: {equals: 1.0}\n"
        "refusal_recall: {min: 0.9}\nevidence_hit@5_over_naive: {min: 0.15}\n"
        "avg_retrieved_chars: {max: 1000}\n"
    )
    rules = load_thresholds(path)
    metrics = {
        "evidence_hit@5": 0.85,
        "false_refusal_rate": 0.1,
        "next_step_accuracy": 1.0,
        "refusal_recall": None,
        "avg_retrieved_chars": 512.0,
    }
    got = check_thresholds(rules, metrics, {"naive": {"evidence_hit@5": 0.65}})
    assert {m: r.status for m, r in got.items()} == {
        "evidence_hit@5": "pass",
        "false_refusal_rate": "fail",
        "next_step_accuracy": "pass",
        "refusal_recall": "n/a",
        "evidence_hit@5_over_naive": "pass",
        "avg_retrieved_chars": "pass",
    }
    assert got["evidence_hit@5_over_naive"].value == pytest.approx(0.2)
    assert check_thresholds(rules, metrics)["evidence_hit@5_over_naive"].status == "n/a"  # no baseline run
    assert (
        check_thresholds(rules, metrics | {"next_step_accuracy": 0.99})["next_step_accuracy"].status == "fail"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("evidence_hit@6: {min: 0.5}\n", "unknown metric"),
        ("mrr@10: {above: 0.5}\n", "must be {min: x}"),
        ("mrr@10: {min: high}\n", "must be a number"),
        ("mrr@10_over_nobody: {min: 0.1}\n", "unknown metric"),
    ],
)
def test_bad_thresholds_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(ThresholdError, match=message):
        load_thresholds(path)


def test_project_thresholds_file() -> None:
    rules = {r.metric: r for r in load_thresholds(DEFAULT_THRESHOLDS)}
    for metric in (
        "evidence_hit@5",
        "mrr@10",
        "part_accuracy",
        "next_step_accuracy",
        "refusal_recall",
        "false_refusal_rate",
        "citation_validity",
        "evidence_hit@5_over_naive",
    ):
        assert metric in rules
    assert (rules["avg_retrieved_chars"].op, rules["avg_retrieved_chars"].target) == ("max", 1000)


# -- run directories: report, compare, export --------------------------------------------------
def fake_row(item_id: str, passed: bool, text: str = "An answer [1].") -> dict[str, Any]:
    """An items.jsonl row."""
    c = chunk("Chunk text.", cid=f"{item_id}-c")
    return {
        "id": item_id,
        "kind": "fact",
        "persona": "trainer",
        "question": f"Question {item_id}?",
        "gold": {"reference_answer": f"Reference {item_id}.", "evidence": [f"evidence {item_id}"]},
        "answer": Answer(
            question="q", text=text, retrieved=[c], citations=[cite(1, c, "Chunk text.")]
        ).model_dump(mode="json", exclude={"state"}),
        "metrics": {"evidence_hit@5": 1.0 if passed else 0.0},
        "latency_ms": 12.0,
        "passed": passed,
        "failures": [] if passed else ["evidence not in the top 5 chunks (first at rank 7)"],
        "error": None,
    }


def fake_run(path: Path, metrics: dict[str, float | None], passed: dict[str, bool]) -> Path:
    """A run directory with a report and items (no model)."""
    path.mkdir(parents=True)
    rows = [fake_row(i, ok) for i, ok in passed.items()]
    (path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = Report(run_dir=str(path), metrics=metrics, items_passed=sum(passed.values()))
    write_report(report, path, rows)
    return path


def test_report_files_are_self_contained(tmp_path: Path) -> None:
    run = fake_run(
        tmp_path / "run", {"evidence_hit@5": 0.9, "avg_retrieved_chars": 500.0}, {"a": True, "b": False}
    )
    html = (run / "report.html").read_text()
    assert "<svg" in html and "<script" not in html and "http" not in html.replace("http://www.w3.org", "")
    assert "evidence not in the top 5 chunks" in (run / "report.md").read_text()
    assert json.loads((run / "charts" / "metrics.vl.json").read_text())["$schema"].startswith("https://vega")
    assert load_report(run).metrics["evidence_hit@5"] == 0.9
    print_summary(load_report(run))  # the CLI's table renders a sparse report too


def test_judge_is_skipped_with_a_reason_never_faked() -> None:
    assert skip_reason("none") == "no LLM configured (set --llm or HANDBOOK_LLM)"
    try:
        import ragas  # noqa: F401
    except ImportError:
        assert skip_reason("ollama:llama3") == "ragas is not installed (pip install ragas)"
    assert Report().judge.status == "skipped" and not Report().judge.metrics


def test_compare_detects_pass_to_fail(tmp_path: Path) -> None:
    a = fake_run(
        tmp_path / "a", {"evidence_hit@5": 0.9, "mrr@10": 0.7}, {"q1": True, "q2": False, "q3": True}
    )
    b = fake_run(
        tmp_path / "b", {"evidence_hit@5": 0.8, "mrr@10": 0.75}, {"q1": False, "q2": True, "q4": True}
    )
    result = compare_runs(a, b)
    assert result.newly_failing == [("q1", ["evidence not in the top 5 chunks (first at rank 7)"])]
    assert result.newly_passing == ["q2"]
    assert result.only_in_a == ["q3"] and result.only_in_b == ["q4"]
    deltas = {d.metric: d.delta for d in result.metrics}
    assert deltas["evidence_hit@5"] == pytest.approx(-0.1) and deltas["mrr@10"] == pytest.approx(0.05)
    out = CliRunner().invoke(eval_app, ["compare", str(a), str(b)])
    assert out.exit_code == 0, out.output
    assert "pass → fail (1)" in out.output and "q1" in out.output


def test_export_formats(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run", {}, {"q1": True, "q2": False})
    path, ids = export_run(run, "ragas")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [set(r) for r in rows] == [
        {"user_input", "retrieved_contexts", "response", "reference", "reference_contexts"}
    ] * 2
    assert rows[1]["reference_contexts"] == ["evidence q2"] and rows[0]["retrieved_contexts"] == [
        "Chunk text."
    ]
    assert list(csv.reader(ids.open())) == [["row", "id"], ["0", "q1"], ["1", "q2"]]
    out = CliRunner().invoke(
        eval_app, ["export", str(run), "--format", "deepeval", "--out", str(tmp_path / "d.json")]
    )
    assert out.exit_code == 0, out.output
    cases = json.loads((tmp_path / "d.json").read_text())
    assert set(cases[0]) == {"input", "actual_output", "expected_output", "retrieval_context", "context"}
    assert cases[1]["input"] == "Question q2?" and cases[1]["context"] == ["evidence q2"]
    assert (tmp_path / "ids.csv").is_file()


# -- the runner and the CLI contract -----------------------------------------------------------
def test_malformed_dataset_exits_2_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.assistant import Assistant

    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the assistant must not be built for a bad dataset")

    monkeypatch.setattr(Assistant, "from_settings", no_work)
    bad = tmp_path / "bad.jsonl"
    good_line = json.dumps(gold().model_dump(mode="json"))
    bad.write_text(good_line + "\n" + good_line.replace('"fact"', '"trivia"') + "\n")
    out = CliRunner().invoke(eval_app, ["run", "--dataset", str(bad), "--out", str(tmp_path / "run")])
    assert out.exit_code == 2
    assert "bad.jsonl line 2: field 'kind'" in out.output
    assert not (tmp_path / "run").exists()


def test_missing_index_exits_2_naming_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.embed

    class NoModel:
        name = "all-MiniLM-L6-v2"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

    monkeypatch.setattr(ingest.embed, "Embedder", NoModel)  # no model is needed to find there is no index
    monkeypatch.setenv("HANDBOOK_DATA_DIR", str(tmp_path / "data"))
    out = CliRunner().invoke(eval_app, ["run", "--dataset", str(GOLD), "--baselines", "none"])
    assert out.exit_code == 2
    assert "handbook ingest" in out.output


def test_unknown_baseline_exits_2(tmp_path: Path) -> None:
    out = CliRunner().invoke(eval_app, ["run", "--dataset", str(GOLD), "--baselines", "naive,magic"])
    assert out.exit_code == 2 and "unknown baseline magic" in out.output


class ScriptedAssistant:
    """Stands in for the assistant: records the states it is asked with, retrieves fixed chunks."""

    chat_model = None
    replay = Assistant.replay  # the real replay, over this stand-in's ask

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.calls: list[tuple[str, ConversationState]] = []

    def ask(self, question: str, state: ConversationState | None = None) -> Answer:
        state = (state or ConversationState()).model_copy(deep=True)
        self.calls.append((question, state.model_copy(deep=True)))
        if "crash" in question:
            raise RuntimeError("boom")
        c = chunk("Choose partners with complementary skills.", "step-6", cid="p")
        state.history.append(Turn(role="user", content=question))
        state.role, state.current_step = "cluster_organisation", 8  # what a replayed turn may set
        return Answer(
            question=question, text="Choose partners with complementary skills [1].", retrieved=[c],
            citations=[cite(1, c, "Choose partners with complementary skills.")],
            timings_ms={"total_ms": 5.0}, state=state,
        )  # fmt: skip


def test_run_eval_replays_history_and_writes_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.settings import Settings
    from evals.run import latest_run, run_eval

    monkeypatch.setattr(Settings, "embedder", lambda self: FakeEmbeddings())
    history = [{"role": "user", "content": "We are in Korea."}, {"role": "assistant", "content": "Ok."}]
    items = [
        gold(id="a", role="policy_maker", current_step=3, history=history),
        gold(id="b", question="crash please"),
    ]
    dataset = tmp_path / "mini.jsonl"
    dataset.write_text("".join(json.dumps(i.model_dump(mode="json")) + "\n" for i in items))
    settings = Settings(data_dir=tmp_path / "data")
    fake = ScriptedAssistant(settings)
    seen: list[tuple[int, int]] = []
    report = run_eval(dataset, settings, None, 10, (), fake, lambda d, t: seen.append((d, t)))  # type: ignore[arg-type]

    # The history's user turn is replayed first; the item's role and step win over the replayed state.
    assert [q for q, _ in fake.calls] == ["We are in Korea.", "How do we pick partners?", "crash please"]
    asked = fake.calls[1][1]
    assert (asked.role, asked.current_step, len(asked.history)) == ("policy_maker", 3, 1)
    assert seen == [(1, 2), (2, 2)]
    run = Path(report.run_dir)
    assert run.parent == tmp_path / "data" / "evals" and run.name.endswith("-mini")
    assert latest_run(tmp_path / "data") == run
    rows = [json.loads(line) for line in (run / "items.jsonl").read_text().splitlines()]
    assert rows[0]["passed"] and rows[0]["metrics"]["evidence_hit@5"] == 1.0 and rows[0]["latency_ms"] == 5.0
    assert "state" not in rows[0]["answer"] and rows[0]["answer"]["retrieved"][0]["chunk_id"] == "p"
    assert rows[1]["error"] == "RuntimeError: boom" and not rows[1]["passed"]
    assert report.errored_items == ["b"] and report.exit_code() == 1
    assert set(report.metrics) == set(METRIC_NAMES)


# -- the real suite ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_run(handbook_settings: Any, assistant: Any, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The full gold set through the real assistant and both baselines, once."""
    from evals.run import run_eval

    out = tmp_path_factory.mktemp("eval") / "run"
    return run_eval(GOLD, handbook_settings, out, k=10, baselines=("naive", "bm25"), assistant=assistant)


@pytest.mark.slow
@pytest.mark.eval
def test_full_suite_on_gold_set(real_run: Report) -> None:
    run = Path(real_run.run_dir)
    for name in ("items.jsonl", "report.json", "report.md", "report.html", "charts/metrics.vl.json"):
        assert (run / name).is_file(), name
    report = load_report(run)
    assert set(METRIC_NAMES) <= set(report.metrics)
    # The LLM fallback rate is n/a without an LLM; every other metric applies to the gold set.
    assert all(report.metrics[m] is not None for m in METRIC_NAMES if m != "llm_fallback_rate")
    assert report.metrics["llm_fallback_rate"] is None
    assert set(report.breakdowns) == {"kind", "persona", "part"}
    assert {"fact", "next_step", "out_of_scope"} <= set(report.breakdowns["kind"])
    assert set(report.breakdowns["kind"]["fact"]) == set(METRIC_NAMES)
    for name in ("naive", "bm25"):
        assert set(RETRIEVAL_NAMES) <= set(report.baselines[name].metrics)
    assert report.dataset.items == len(load_dataset(GOLD)) and report.dataset.sha256
    assert report.groundedness_method and report.versions["python"]
    assert "llm_api_key" not in report.settings
    rows = [json.loads(line) for line in (run / "items.jsonl").read_text().splitlines()]
    assert len(rows) == len(load_dataset(GOLD))
    assert {
        "id",
        "kind",
        "persona",
        "question",
        "answer",
        "metrics",
        "latency_ms",
        "passed",
        "failures",
    } <= set(rows[0])
    failing = {m: (g.value, g.text) for m, g in report.thresholds.items() if g.status != "pass"}
    assert not failing, f"gates not passing: {failing}"
    assert report.exit_code() == 0


@pytest.mark.slow
@pytest.mark.eval
def test_real_run_exports_and_compares_with_itself(real_run: Report, tmp_path: Path) -> None:
    path, _ = export_run(real_run.run_dir, "ragas", tmp_path / "r.jsonl")
    assert len(path.read_text().splitlines()) == len(load_dataset(GOLD))
    same = compare_runs(real_run.run_dir, real_run.run_dir)
    # A metric that applies to no item (the LLM fallback rate without an LLM) has no delta.
    assert not same.newly_failing and not same.newly_passing
    assert all(d.delta == 0 for d in same.metrics if d.a is not None)
