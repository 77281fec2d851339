"""The Streamlit app through ``streamlit.testing.v1.AppTest``: every page, over the session's real index."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from assistant.feedback import FeedbackStore
from ui.components import conversation_markdown, escape, journey_dot, text_block

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "ui" / "app.py"
TIMEOUT = 120


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's data folder (feedback, evaluation runs, uploads), apart from other tests'."""
    return tmp_path_factory.mktemp("app-data")


@pytest.fixture
def app(handbook_settings, app_data: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:  # type: ignore[no-untyped-def]
    """The app over the session's index (its Chroma folder), with this module's data folder."""
    monkeypatch.setenv("HANDBOOK_DATA_DIR", str(app_data))
    monkeypatch.setenv("HANDBOOK_CHROMA_PATH", str(handbook_settings.chroma_dir))
    monkeypatch.setenv("HANDBOOK_LLM", "none")
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def run(at: AppTest) -> AppTest:
    """Run the app and check it showed no error and no traceback."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def ask(at: AppTest, question: str) -> AppTest:
    """Ask a question in the chat."""
    at.chat_input(key="ask").set_value(question)
    return run(at)


def answer_markdown(at: AppTest) -> str:
    """All Markdown of the last assistant message."""
    return "\n".join(m.value for m in at.chat_message[-1].markdown)


def exchanges(at: AppTest) -> list[Any]:
    """The session's questions and answers."""
    return list(at.session_state["turns"])


def page(at: AppTest, name: str) -> AppTest:
    """Open one of the app's pages."""
    at.switch_page(f"views/{name}.py")
    return run(at)


# -- pure helpers -------------------------------------------------------------------------------
def test_escape_keeps_user_and_corpus_text_literal() -> None:
    hostile = "<img src=x onerror=alert(1)> **bold** [link](http://x) :red[x] $x$ # head"
    escaped = escape(hostile)
    assert not re.search(r"(?<!\\)[<>*\[\]()$#:]", escaped)  # every Markdown/HTML character is escaped
    assert escaped.replace("\\", "") == hostile
    assert escape("<b>*x*</b>") == "\\<b\\>\\*x\\*\\</b\\>"
    assert text_block("Intro:\n- item [1]\nEnd.") == "Intro\\:\n\n- item \\[1\\]\n\nEnd\\."
    # A bullet's sub-items stay nested under it (answers quote "• Benefits to …" with its list).
    assert text_block("- Benefits to policy makers\n  - Raised profile [1]") == (
        "- Benefits to policy makers\n  - Raised profile \\[1\\]"
    )


def test_no_html_is_rendered_anywhere_in_the_app() -> None:
    sources = [
        APP,
        REPO / "ui" / "components.py",
        REPO / "ui" / "state.py",
        *(REPO / "ui" / "views").glob("*.py"),
    ]
    for source in sources:
        assert "unsafe_allow_html" not in source.read_text(encoding="utf-8"), source
        assert "st.html(" not in source.read_text(encoding="utf-8"), source


def test_journey_graph_has_forward_edges_and_labelled_loops() -> None:
    from assistant.journey import default_journey

    dot = journey_dot(default_journey(), current=4)
    assert "s4 -> s5 [penwidth=2" in dot
    assert "s8:s -> s6:s [style=dashed" in dot and 'xlabel="project unsuccessful"' in dot
    assert "s1:s -> s1:s" in dot and "#c62828" in dot  # the exit is drawn in red
    assert 's4 [label="4\\nStrategy &\\nAction Plan"' in dot and "penwidth=3" in dot


# -- chat ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_question_gets_an_answer_with_citations_and_sources(app: AppTest) -> None:
    run(app)
    ask(app, "What is a matchmaking event?")
    assert [m.name for m in app.chat_message] == ["user", "assistant"]
    text = answer_markdown(app)
    assert "\\[1\\]" in text and "**Sources**" in text
    answer = exchanges(app)[-1].answer
    assert answer.citations and not answer.refused
    first = answer.citations[0]
    assert escape(first.quote) in text
    passages = [e for e in app.chat_message[-1].expander if e.label.startswith("Full passage")]
    assert len(passages) == len(answer.citations)
    assert passages[0].markdown[0].value == text_block(first.text)
    assert len(app.feedback) == 1


@pytest.mark.slow
def test_user_text_is_shown_literally(app: AppTest) -> None:
    run(app)
    ask(app, "<b>Hello</b> **Step 6**?")
    assert app.chat_message[0].markdown[0].value == escape("<b>Hello</b> **Step 6**?")


@pytest.mark.slow
def test_sidebar_role_and_step_reach_the_assistant(app: AppTest) -> None:
    run(app)
    app.selectbox(key="role").set_value("policy_maker")
    app.selectbox(key="current_step").set_value(3)
    run(app)
    ask(app, "What is on the checklist?")
    text = answer_markdown(app)
    assert "for policy makers" in text and "Regional Innovation Strategy" in text
    assert "portfolio approach" not in text  # an item for cluster organisations only
    assert app.session_state["conversation"].role == "policy_maker"
    assert app.session_state["conversation"].current_step == 3


@pytest.mark.slow
def test_next_step_card_and_the_sidebar_follow_the_conversation(app: AppTest) -> None:
    run(app)
    ask(app, "We have completed step 4. What next?")
    answer = exchanges(app)[-1].answer
    assert answer.next_step is not None and answer.next_step.step == 5
    assert "**Next step: Step 5 – Implement Training**" in answer_markdown(app)
    assert app.selectbox(key="current_step").value == 4  # the step the user said they are at


@pytest.mark.slow
def test_clarification_is_the_assistants_question(app: AppTest) -> None:
    run(app)
    ask(app, "What should we do next?")
    answer = exchanges(app)[-1].answer
    assert answer.clarification
    assert escape(answer.clarification) in answer_markdown(app)


@pytest.mark.slow
def test_refusals_are_plain_and_say_what_is_covered(app: AppTest) -> None:
    run(app)
    ask(app, "What is the weather in Paris tomorrow?")
    answer = exchanges(app)[-1].answer
    assert answer.refused and not answer.citations
    text = answer_markdown(app)
    assert "does not cover" in text and "**Sources**" not in text


@pytest.mark.slow
def test_conversation_exports_as_markdown_and_clears(app: AppTest) -> None:
    run(app)
    ask(app, "What is a matchmaking event?")
    turn = exchanges(app)[-1]
    exported = conversation_markdown([(turn.question, turn.answer)])
    assert "**You:** What is a matchmaking event?" in exported and "Sources:" in exported
    assert f"- [1] “{turn.answer.citations[0].quote}”" in exported
    assert not app.download_button(key="export-conversation").disabled
    app.button(key="clear-conversation").click()
    run(app)
    assert not app.chat_message and not exchanges(app)


@pytest.mark.slow
def test_answers_stream_when_an_llm_is_configured(app: AppTest, assistant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from assistant.assistant import Assistant
    from ui import state

    class EchoModel:
        """A stand-in chat model: streams the longest sentence of source [1], cited."""

        def stream(self, messages: list[Any]) -> Iterator[str]:
            block = messages[-1].content.split("[1] ", 1)[1].split("\n\n[2] ", 1)[0]
            sentence = max(re.split(r"(?<=[.?!])\s+", block.split("\n", 1)[1]), key=len)
            for word in f"{sentence.strip()} [1]".split():
                yield word + " "

    with_llm = Assistant(assistant.settings, assistant.index, assistant.journey, EchoModel())
    monkeypatch.setattr(state, "get_assistant", lambda: with_llm)
    run(app)
    ask(app, "How can a cluster organisation find partners abroad?")
    answer = exchanges(app)[-1].answer
    assert answer.backend == "llm" and answer.citations, answer.notice
    assert "\\[1\\]" in answer_markdown(app)


@pytest.mark.slow
def test_an_error_is_one_line_and_what_to_run(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.assistant import IndexMissing
    from ui import state

    def missing() -> None:
        raise IndexMissing("no index at /nowhere: run `handbook ingest` first")

    monkeypatch.setattr(state, "get_assistant", missing)
    app.run()
    assert not app.exception
    [error] = app.error
    assert "no index at /nowhere" in error.value and "handbook ingest" in error.value
    assert "Traceback" not in error.value


# -- feedback -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_feedback_is_stored_and_exported(app: AppTest, app_data: Path) -> None:
    from ui.feedback_cli import feedback_app

    run(app)
    app.selectbox(key="role").set_value("policy_maker")
    run(app)
    ask(app, "What does the handbook say about building trust with partners?")
    turn = exchanges(app)[-1]
    app.feedback[-1].set_value(1)
    run(app)
    app.text_area(key=f"comment-{turn.uid}").input("Useful, and the sources are right.")
    app.button(key=f"FormSubmitter:comment-form-{turn.uid}-Send comment").click()
    run(app)

    rows = {r.id: r for r in FeedbackStore(app_data / "feedback.sqlite3").all()}
    row = rows[exchanges(app)[-1].feedback_id]
    assert (row.rating, row.comment, row.role) == (1, "Useful, and the sources are right.", "policy_maker")
    assert row.question == turn.question and row.answer == turn.answer.text
    assert [c["chunk_id"] for c in row.citations] == [c.chunk_id for c in turn.answer.citations]
    assert "llm_api_key" not in row.settings

    out = app_data / "feedback.jsonl"
    result = CliRunner().invoke(feedback_app, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    items = {i["id"]: i for i in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    item = items[f"fb-{row.id}"]
    assert item["persona"] == "policy_maker" and item["reference_answer"] == turn.answer.text
    assert item["expected_parts"] and item["evidence"]


# -- journey ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ticking_the_checklist_and_step_complete_gives_the_next_step(app: AppTest) -> None:
    run(app)
    page(app, "journey")
    assert app.title[0].value == "The Internationalisation Journey"
    for key in ("tick-4-0", "tick-4-1"):
        app.checkbox(key=key).check()
        run(app)
    app.button(key="complete-4").click()
    run(app)
    proposal = app.session_state["journey_proposals"][4]
    assert (proposal.step, proposal.kind, proposal.from_step) == (5, "forward", 4)
    assert any(m.value == "**Next step: Step 5 – Implement Training**" for m in app.markdown)
    app.button(key="go-4").click()
    run(app)
    assert app.selectbox(key="current_step").value == 5


@pytest.mark.slow
def test_an_unmet_checklist_keeps_the_user_on_the_step(app: AppTest) -> None:
    run(app)
    app.selectbox(key="role").set_value("cluster_organisation")
    run(app)
    page(app, "journey")
    assert [c.key for c in app.checkbox if (c.key or "").startswith("tick-3-")] == [
        "tick-3-0",
        "tick-3-1",
        "tick-3-2",
    ]
    app.button(key="complete-3").click()  # nothing ticked yet
    run(app)
    assert app.session_state["journey_proposals"][3].kind == "stay"
    app.checkbox(key="tick-3-0").check()
    run(app)
    app.button(key="complete-3").click()
    run(app)
    proposal = app.session_state["journey_proposals"][3]
    assert (proposal.step, proposal.kind) == (3, "stay")
    assert "portfolio approach" not in proposal.reason.lower()  # the ticked item is met


@pytest.mark.slow
def test_progress_loads_from_a_file_and_a_bad_file_gets_one_line(app: AppTest) -> None:
    run(app)
    page(app, "journey")
    progress = {
        "version": 1,
        "role": "policy_maker",
        "current_step": 6,
        "checklists": {"6": [1, 1, 1, 1, 1, 0]},
    }
    app.file_uploader(key="upload-progress").set_value(
        ("p.json", json.dumps(progress).encode(), "application/json")
    )
    run(app)
    assert app.selectbox(key="role").value == "policy_maker"
    assert app.selectbox(key="current_step").value == 6
    assert [app.checkbox(key=f"tick-6-{i}").value for i in (4, 5)] == [True, False]
    assert escape("Progress loaded from p.json.") in [s.value for s in app.success]

    app.file_uploader(key="upload-progress").set_value(("bad.json", b"{not json", "application/json"))
    app.run()
    [error] = app.error
    assert error.value.startswith(escape("bad.json: not a JSON file")) and "\n" not in error.value


def test_progress_json_round_trips() -> None:
    from ui.state import Progress, parse_progress

    saved = Progress(role="cluster_organisation", current_step=2, checklists={2: [True, False]})
    assert parse_progress(saved.model_dump_json()) == saved
    for bad, reason in (
        (b"[]", "expected a JSON object"),
        (b'{"current_step": 12}', "current_step"),
        (b'{"checklists": {"11": [true]}}', "steps 1 to 10"),
    ):
        with pytest.raises(ValueError, match=reason):
            parse_progress(bad)


# -- case studies -------------------------------------------------------------------------------
def shown(at: AppTest) -> str:
    """The "Showing N of M cases" line."""
    return next(c.value for c in at.caption if c.value.startswith("Showing"))


@pytest.mark.slow
def test_case_filters_narrow_the_list(app: AppTest, assistant) -> None:  # type: ignore[no-untyped-def]
    run(app)
    page(app, "cases")
    total = len(assistant.cases)
    assert shown(app) == f"Showing {total} of {total} cases"
    assert len(app.button) >= total  # one "Ask about this case" per card
    app.multiselect(key="case-steps").select(6)
    run(app)
    step_6 = sum(1 for c in assistant.cases.values() if c.step == 6)
    assert shown(app) == f"Showing {step_6} of {total} cases"
    app.multiselect(key="case-themes").select("Matchmaking")
    run(app)
    narrowed = int(shown(app).split()[1])
    assert 0 < narrowed < step_6
    app.multiselect(key="case-steps").unselect(6)
    app.multiselect(key="case-themes").unselect("Matchmaking")
    app.multiselect(key="case-places").select("Korea")
    run(app)
    assert [h.value.split("\\:")[0] for h in app.subheader] == ["Case 1", "Case 18"]


@pytest.mark.slow
def test_case_search_ranks_the_matching_case_first(app: AppTest) -> None:
    run(app)
    page(app, "cases")
    app.text_input(key="case-search").input("Greek liaison office in Silicon Valley")
    run(app)
    assert app.subheader[0].value.startswith("Case 17")


@pytest.mark.slow
def test_ask_about_this_case_opens_the_chat_scoped_to_it(app: AppTest) -> None:
    run(app)
    page(app, "cases")
    app.button(key="ask-case-5").click()
    run(app)
    assert app.chat_input(key="ask")
    assert app.session_state["conversation"].scope_case == "5"
    assert any("Case 5" in i.value for i in app.info)
    app.switch_page("views/chat.py")  # AppTest keeps requesting the page it was last switched to
    ask(app, "What was the challenge?")
    answer = exchanges(app)[-1].answer
    assert answer.state.scope_case == "5" and answer.citations[0].case == "5"


# -- evaluation ---------------------------------------------------------------------------------
def fake_run(data_dir: Path) -> Path:
    """A small run folder as `handbook eval run` writes it: report.json and items.jsonl."""
    run_dir = data_dir / "evals" / "20260101T000000Z-fake"
    run_dir.mkdir(parents=True, exist_ok=True)
    gate = {"metric": "evidence_hit@5", "rule": "min", "target": 0.95, "value": 0.9, "status": "fail"}
    ok = {"metric": "citation_validity", "rule": "equals", "target": 1.0, "value": 1.0, "status": "pass"}
    report = {
        "created": "2026-01-01T00:00:00Z",
        "dataset": {"path": "evals/datasets/fake.jsonl", "sha256": "0", "items": 2},
        "metrics": {"evidence_hit@5": 0.9, "mrr@10": 0.8, "citation_validity": 1.0},
        "thresholds": {"evidence_hit@5": gate, "citation_validity": ok},
        "passed": False,
        "items_passed": 1,
        "failed_items": ["f2"],
        "breakdowns": {
            "kind": {"fact": {"evidence_hit@5": 1.0, "mrr@10": 1.0}, "paraphrase": {"evidence_hit@5": 0.8}},
            "part": {"step-6": {"evidence_hit@5": 1.0}, "step-7": {"evidence_hit@5": 0.8}},
        },
        "baselines": {
            "naive": {
                "metrics": {"evidence_hit@5": 0.6},
                "breakdowns": {"kind": {"fact": {"evidence_hit@5": 0.5}}},
            }
        },
    }
    (run_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    retrieved = [
        {"chunk_id": "x", "part": "step-7", "case": "12", "text": "Trust takes time to build.", "score": 1}
    ]
    items = [
        {
            "id": "f1",
            "kind": "fact",
            "question": "Q one?",
            "gold": {"evidence": ["a"]},
            "answer": {},
            "passed": True,
        },
        {
            "id": "f2",
            "kind": "paraphrase",
            "question": "How long does trust take?",
            "gold": {"evidence": ["trust is built over years"]},
            "answer": {"retrieved": retrieved},
            "metrics": {"evidence_hit@5": 0.0},
            "passed": False,
            "failures": ["evidence_hit@5: no evidence in the top 5"],
        },
    ]
    (run_dir / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return run_dir


@pytest.mark.slow
def test_evaluation_page_renders_a_run(app: AppTest, app_data: Path) -> None:
    run_dir = fake_run(app_data)
    app.run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    assert app.selectbox(key="evaluation-run").value == run_dir.name
    [gate] = app.error  # the gate fails: one threshold is not met
    assert escape("evidence_hit@5") in gate.value
    tiles = {m.label: m for m in app.metric}
    assert tiles["evidence_hit@5"].value == "0.900" and "fail" in tiles["evidence_hit@5"].delta
    assert "pass" in tiles["citation_validity"].delta
    table = app.dataframe[0].value
    row = table.set_index("metric").loc["evidence_hit@5"]
    assert (row["threshold"], row["result"], row["baseline: naive"]) == ("≥ 0.95", "fail", 0.6)
    failed = app.dataframe[1].value
    assert list(failed["id"]) == ["f2"]
    assert failed.iloc[0]["expected evidence"] == "trust is built over years"
    assert "step-7 case 12: Trust takes time to build." in failed.iloc[0]["retrieved (top 3)"]
    assert app.button(key="eval-start")


@pytest.mark.slow
def test_a_run_started_on_the_page_is_shown(app: AppTest, app_data: Path, tmp_path: Path) -> None:
    gold = (REPO / "evals" / "datasets" / "handbook.jsonl").read_text(encoding="utf-8").splitlines()
    dataset = tmp_path / "tiny.jsonl"
    dataset.write_text("\n".join(gold[:2]) + "\n", encoding="utf-8")
    run(app)
    app.switch_page("views/evaluation.py").run()  # an earlier run may fail its gate (an error box)
    app.text_input(key="eval-dataset").input(str(dataset))
    app.multiselect(key="eval-baselines").set_value([])  # the baselines re-embed the corpus: not here
    app.button(key="eval-start").click()
    app.run()
    assert not app.exception
    chosen = app.selectbox(key="evaluation-run").value
    assert chosen.endswith("-tiny") and (app_data / "evals" / chosen / "report.json").is_file()
    assert len(app.dataframe) >= 1 and app.metric


# -- index --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_index_page_shows_what_is_indexed_and_reports_bad_files(
    app: AppTest, assistant, app_data: Path
) -> None:  # type: ignore[no-untyped-def]
    run(app)
    page(app, "index")
    tiles = {m.label: m.value for m in app.metric}
    assert tiles["Chunks"] == str(len(assistant.index.chunks))
    assert tiles["Case studies"] == str(len(assistant.cases))
    text = "\n".join(m.value for m in app.markdown)
    assert "all\\-MiniLM\\-L6\\-v2" in text and "**LLM backend:** none" in text

    app.file_uploader(key="uploads").set_value(
        [("broken.pdf", b"%PDF-1.4 this is not a pdf", "application/pdf")]
    )
    run(app)
    app.button(key="add-documents").click()
    app.run()
    assert not app.exception
    errors = [e.value for e in app.error]  # one line per failed file
    assert any(escape("broken.pdf: not a readable PDF") in e for e in errors), errors
    assert not (app_data / "documents" / "broken.pdf").exists()  # a failed file is not kept
    assert any(escape("0 chunk(s) added") in w.value for w in app.warning)


# -- first run ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_first_run_builds_the_index_then_documents_can_be_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text(
        "# Cluster notes\n\nMatchmaking events help cluster organisations find partners abroad.\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HANDBOOK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HANDBOOK_CORPUS_DIR", str(corpus))
    monkeypatch.delenv("HANDBOOK_CHROMA_PATH", raising=False)
    at = run(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
    assert at.chat_input(key="ask")  # the chat opens once the index is built
    before = Settings().open_store().count()
    assert before > 0

    page(at, "index")
    assert {m.label: m.value for m in at.metric}["Chunks"] == str(before)
    more = b"# Trust\n\nTrust between cluster managers grows through repeated visits and joint projects.\n"
    at.file_uploader(key="uploads").set_value([("trust.md", more, "text/markdown")])
    run(at)
    at.button(key="add-documents").click()
    run(at)
    assert Settings().open_store().count() > before
    assert {m.label: m.value for m in at.metric}["Documents"] == "2"  # the page shows the new index
    assert any(escape("index updated") in s.value for s in at.success)
    assert (tmp_path / "data" / "documents" / "trust.md").is_file()
