"""Segmentation and chunking of the real handbook (ingest/segment.py, ingest/chunk.py): fast, no model.

The expected line numbers below were read off ``corpus/tactics-cluster-internationalisation-handbook.txt``
(``grep -n``); ``test_heading_table_matches_the_corpus`` checks that every one of them is the heading it
claims to be, so the table cannot drift from the file.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import pytest

from ingest.chunk import DEFAULT_OVERLAP, DEFAULT_SIZE, chunk_sections
from ingest.clean import clean_line
from ingest.handbook import STEP_TITLES
from ingest.load import load_document
from ingest.records import STEP_SECTIONS, Chunk, Document
from ingest.segment import Segmentation, segment, vocabulary_of

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus" / "tactics-cluster-internationalisation-handbook.txt"
RAW = CORPUS.read_text(encoding="utf-8").splitlines()

#: Heading line of each section of each step unit: overview, useful tools, practical examples, step
#: completion. Part ``funding`` is Utilise Funding (its completion heading is STEP SUCCESS CRITERIA).
HEADINGS: dict[str, tuple[int, int, int, int]] = {
    "step-1": (392, 438, 508, 531),
    "step-2": (554, 570, 603, 606),
    "step-3": (621, 653, 708, 772),
    "step-4": (803, 821, 971, 1047),
    "step-5": (1063, 1083, 1109, 1136),
    "step-6": (1150, 1214, 1311, 1616),
    "step-7": (1639, 1740, 1777, 2075),
    "step-8": (2094, 2167, 2182, 2187),
    "step-9": (2213, 2247, 2317, 2322),
    "step-10": (2355, 2387, 2399, 2511),
    "funding": (2526, 2565, 2574, 2645),
}
HEADING_WORDS = (
    "OVERVIEW",
    "USEFUL TOOLS",
    "PRACTICAL EXAMPLES",
    ("STEP COMPLETION", "STEP SUCCESS CRITERIA"),
)
TUBE_MAP_LINE = 2669  # "OUTWARD FACING": the first line after Utilise Funding
UNITS = list(HEADINGS)

#: First line of each case study and the part it belongs to.
CASES: dict[str, tuple[str, int]] = {
    "1": ("step-3", 713),
    "2": ("step-3", 748),
    "3": ("step-4", 977),
    "4": ("step-4", 1009),
    "mentoring": ("step-5", 1113),
    "5": ("step-6", 1315),
    "6": ("step-6", 1357),
    "7a": ("step-6", 1396),
    "7b": ("step-6", 1416),
    "8": ("step-6", 1455),
    "9": ("step-6", 1502),
    "10": ("step-6", 1541),
    "11": ("step-6", 1579),
    "12": ("step-7", 1779),
    "13": ("step-7", 1818),
    "14": ("step-7", 1850),
    "15": ("step-7", 1907),
    "16": ("step-7", 1954),
    "17": ("step-7", 1981),
    "18": ("step-7", 2022),
    "19": ("step-10", 2403),
    "20": ("funding", 2582),
}

#: Checklist items per audience, counted in the file.
CHECKLIST_COUNTS: dict[str, dict[str, int]] = {
    "step-1": {"both": 3},
    "step-2": {"both": 3},
    "step-3": {"cluster_organisation": 3, "policy_maker": 3},
    "step-4": {"both": 2},
    "step-5": {"both": 3},
    "step-6": {"cluster_organisation": 4, "policy_maker": 2},
    "step-7": {"cluster_organisation": 2, "policy_maker": 1},
    "step-8": {"cluster_organisation": 5, "policy_maker": 2},
    "step-9": {"cluster_organisation": 4, "policy_maker": 3},
    "step-10": {"cluster_organisation": 2, "policy_maker": 1},
    "funding": {"cluster_organisation": 2, "policy_maker": 2},
}

#: Front-matter sections and the line of their heading.
FRONT: dict[str, int] = {
    "tactics-results": 1,
    "what-is-tactics": 60,
    "executive-summary": 102,
    "recommendations": 138,
    "introduction": 166,
    "why-has-this-handbook-been-produced": 181,
    "tactics-reflection-group-task-force": 214,
    "beyond-the-triple-helix": 265,
    "future-policy-developments": 289,
    "aims-of-the-handbook": 318,
    "who-are-the-customers": 341,
    "overview-of-content": 349,
}


@pytest.fixture(scope="module")
def document() -> Document:
    return load_document(CORPUS)


@pytest.fixture(scope="module")
def seg(document: Document) -> Segmentation:
    return segment(document)


@pytest.fixture(scope="module")
def chunks(document: Document, seg: Segmentation) -> list[Chunk]:
    return chunk_sections(seg.sections, DEFAULT_SIZE, DEFAULT_OVERLAP, vocabulary_of(document))


def raw(line_no: int) -> str:
    return RAW[line_no - 1]


def first_text_line_after(line_no: int) -> int:
    """The first line after ``line_no`` that keeps text after cleaning."""
    n = line_no + 1
    while not clean_line(raw(n)):
        n += 1
    return n


def unit_end(part: str) -> int:
    """Last line of a step unit: the line before the next unit's overview (or the tube map)."""
    k = UNITS.index(part)
    return (HEADINGS[UNITS[k + 1]][0] if k + 1 < len(UNITS) else TUBE_MAP_LINE) - 1


def unit_of_line(line_no: int) -> str | None:
    for part in UNITS:
        if HEADINGS[part][0] <= line_no <= unit_end(part):
            return part
    return None


# -- the table itself -------------------------------------------------------------------------


def test_heading_table_matches_the_corpus() -> None:
    for part, lines in HEADINGS.items():
        for line_no, words in zip(lines, HEADING_WORDS, strict=True):
            assert clean_line(raw(line_no)) in ((words,) if isinstance(words, str) else words), (
                part,
                line_no,
            )
    assert raw(392) == " 17OVERVIEW "
    assert raw(TUBE_MAP_LINE) == "OUTWARD FACING"
    for case_id, (_, line_no) in CASES.items():
        expected = (
            "Proposal for a European Cluster Mentoring" if case_id == "mentoring" else f"Case {case_id}:"
        )
        assert clean_line(raw(line_no)).startswith(expected), (case_id, line_no)


# -- steps and their sections -----------------------------------------------------------------


def test_the_document_is_recognised_as_the_handbook(seg: Segmentation) -> None:
    assert seg.is_handbook
    assert seg.doc_id == "tactics-cluster-internationalisation-handbook.txt"


def test_every_step_is_found_in_order_with_its_four_sections(seg: Segmentation) -> None:
    order = [s.part for s in seg.sections if s.part in HEADINGS]
    assert list(dict.fromkeys(order)) == UNITS
    for part in UNITS:
        names = list(dict.fromkeys(s.section for s in seg.sections if s.part == part))
        assert names == list(STEP_SECTIONS), part


@pytest.mark.parametrize("part", UNITS)
def test_section_spans_match_the_handbook(seg: Segmentation, part: str) -> None:
    """Each section runs from the first text line after its heading to the line before the next heading."""
    starts = HEADINGS[part]
    ends = [*(h - 1 for h in starts[1:]), unit_end(part)]
    for name, heading, end in zip(STEP_SECTIONS, starts, ends, strict=True):
        sections = [s for s in seg.sections if s.part == part and s.section == name]
        span = (min(s.line_start for s in sections), max(s.line_end for s in sections))
        assert span == (first_text_line_after(heading), end), (part, name)
        # the heading line itself is not in the text: the heading path carries it
        assert all(ln.line_no != heading for s in sections for ln in s.lines)


@pytest.mark.parametrize("part", UNITS)
def test_step_metadata_and_heading_paths(seg: Segmentation, part: str) -> None:
    step = int(part.split("-")[1]) if part != "funding" else None
    for s in (s for s in seg.sections if s.part == part):
        assert s.step == step
        if step is None:
            assert s.heading_path[0] == "Utilise Funding" and s.step_title is None
        else:
            assert s.heading_path[0] == f"Step {step}. {seg.step_titles[step]}"
            assert s.step_title == seg.step_titles[step]


def test_step_titles(seg: Segmentation) -> None:
    assert seg.step_titles == STEP_TITLES  # read from the text, as the one source of the titles says


# -- cases -----------------------------------------------------------------------------------


def test_every_case_is_found_once(seg: Segmentation) -> None:
    ids = [c.case_id for c in seg.cases]
    assert len(ids) == 22
    assert sorted(ids) == sorted(CASES)


@pytest.mark.parametrize("case_id", list(CASES))
def test_case_is_in_its_step_with_all_its_fields(seg: Segmentation, case_id: str) -> None:
    case = next(c for c in seg.cases if c.case_id == case_id)
    part, start = CASES[case_id]
    assert case.part == part
    assert case.step == (int(part.split("-")[1]) if part != "funding" else None)
    assert case.line_start == start
    same_part = sorted(line for p, line in CASES.values() if p == part)
    later = [line for line in same_part if line > start]
    assert case.line_end == (later[0] if later else HEADINGS[part][3]) - 1
    assert case.title and not case.title.startswith("Case ")
    assert len(case.challenge) > 50
    assert len(case.description) > 200
    assert case.key_lessons and all(lesson for lesson in case.key_lessons)
    if case_id not in ("2", "7a"):  # the only two cases printed without a contact paragraph
        assert case.contact.startswith("For more information on this Case Study")


def test_case_titles_are_whole(seg: Segmentation) -> None:
    titles = {c.case_id: c.title for c in seg.cases}
    assert titles["1"] == "Cluster-based R&D cooperation between Korean and German SMEs"
    assert titles["7a"] == titles["7b"] == "Cooperation with the Enterprise Europe Network (EEN)"
    assert titles["12"] == "INTER’MAT – cross-border cluster in materials and processes"
    assert titles["mentoring"] == "Proposal for a European Cluster Mentoring Programme"
    assert titles["20"].startswith("INNET/Innovation Express Call for Proposals")


def test_case_sections_carry_the_case(seg: Segmentation) -> None:
    for case in seg.cases:
        sections = [s for s in seg.sections if s.case_id == case.case_id]
        assert sections, case.case_id
        assert {s.section for s in sections} == {"practical-examples"}
        assert all(case.line_start <= s.line_start <= s.line_end <= case.line_end for s in sections)
        assert all(s.case_title == case.title for s in sections)
        assert {s.heading_path[3] for s in sections} <= {"Challenge", "Description", "Key lessons", "Contact"}


# -- checklists -------------------------------------------------------------------------------


def test_every_step_and_funding_has_a_checklist(seg: Segmentation) -> None:
    assert [c.part for c in seg.checklists] == UNITS
    assert [c.step for c in seg.checklists] == [*range(1, 11), None]


@pytest.mark.parametrize("part", UNITS)
def test_checklist_items_per_audience(seg: Segmentation, part: str) -> None:
    checklist = next(c for c in seg.checklists if c.part == part)
    assert dict(Counter(i.audience for i in checklist.items)) == CHECKLIST_COUNTS[part]
    for item in checklist.items:
        assert item.text and not item.text.startswith(("•", "-"))
    # every item is a question except Step 2's pointer to Steps 3-5 and Step 4's folded sub-list
    assert sum(not i.text.endswith("?") for i in checklist.items) <= (part in ("step-2", "step-4"))
    assert checklist.next_words


def test_checklist_item_texts_are_clean(seg: Segmentation) -> None:
    step3 = next(c for c in seg.checklists if c.step == 3)
    assert step3.items[0].text == (
        "Has a portfolio approach to the access of information and the access channels been developed "
        "and accepted by the cluster manager and the cluster members?"
    )
    step4 = next(c for c in seg.checklists if c.step == 4)
    assert step4.items[1].text.startswith("Does it have: Clear targets; Well-defined actions")
    step1 = next(c for c in seg.checklists if c.step == 1)
    assert step1.intro.startswith("Internationalisation is not appropriate for all clusters")
    assert [i.audience for i in step1.for_role("policy_maker")] == ["both"] * 3


def test_checklist_next_words(seg: Segmentation) -> None:
    by_part = {c.part: c for c in seg.checklists}
    for n in range(1, 10):
        assert (
            by_part[f"step-{n}"].next_words[0] == "If the answers are positive, then move onto the next Step."
        )
    step8 = " ".join(by_part["step-8"].next_words)
    assert "go back to Step 6" in step8
    assert "review Step 3" in step8
    assert "Go back to Step 3" in " ".join(by_part["step-10"].next_words)
    assert (
        by_part["funding"]
        .next_words[0]
        .startswith("In practice, the Utilise Funding Step is never completed")
    )


# -- front matter and tail ----------------------------------------------------------------------


def test_front_matter_sections(seg: Segmentation) -> None:
    front = {s.section: s for s in seg.sections if s.part == "front-matter"}
    assert list(front) == list(FRONT)
    for name, line_no in FRONT.items():
        assert front[name].line_start == line_no, name
        assert front[name].heading_path[0] == "Front matter"
    assert front["overview-of-content"].line_end == HEADINGS["step-1"][0] - 1


def test_tail_parts(seg: Segmentation) -> None:
    tail = [(s.part, s.section, s.line_start) for s in seg.sections if s.line_start >= TUBE_MAP_LINE]
    parts = list(dict.fromkeys(p for p, _, _ in tail))
    assert parts == ["tube-map", "conclusions", "linkology", "glossary"]
    starts = {p: min(line for q, _, line in tail if q == p) for p in parts}
    assert starts["linkology"] == 3147
    assert starts["glossary"] == 3320
    tube = next(s for s in seg.sections if s.part == "tube-map")
    assert tube.lines[0].text.startswith("Internationalisation Cluster Cooperation: The Tube Map")
    recommendations = [s for s in seg.sections if s.section == "conclusions-and-recommendations"]
    assert [s.heading_path[-1][:2] for s in recommendations[1:]] == ["1)", "2)", "3)", "4)", "5)"]
    assert seg.sections[-1].line_end == len(RAW)


def test_addressing_the_outstanding_issues_is_a_conclusions_section(
    seg: Segmentation, chunks: list[Chunk]
) -> None:
    section = next(s for s in seg.sections if s.section == "addressing-the-outstanding-issues")
    assert section.part == "conclusions"
    assert section.heading_path == ("Addressing the outstanding issues",)
    assert section.line_start == 2972
    tube = next(s for s in seg.sections if s.part == "tube-map")
    assert tube.line_end < 2972
    assert not any("57In" in c.text for c in chunks)


# -- chunks -----------------------------------------------------------------------------------


def test_step_heading_lines_are_not_in_any_chunk(chunks: list[Chunk]) -> None:
    for heading in ("STEP 1. WHY?", "STEP 7. DEVELOP TRUST & PROJECTS", "STEP 8. IMPLEMENT PROJECTS",
                    "STEP 9. MEASURE SUCCESS", "STEP 10. SUSTAIN THE NETWORKS"):  # fmt: skip
        assert not [c.chunk_id for c in chunks if heading in c.text], heading


def test_a_sentence_split_by_the_step_heading_is_whole_in_one_chunk(chunks: list[Chunk]) -> None:
    holders = [c for c in chunks if "Funding is a means not a goal in itself." in c.text]
    assert holders
    assert all(c.part == "step-7" for c in holders)


def test_section_headings_and_page_numbers_are_not_in_chunks(chunks: list[Chunk]) -> None:
    for c in chunks:
        for line in c.text.split("\n"):
            assert line.strip() not in ("OVERVIEW", "USEFUL TOOLS", "PRACTICAL EXAMPLES", "STEP COMPLETION")
            assert not re.match(r"^\d{1,3}[A-Z]", line), line
    assert not [c for c in chunks if "17OVERVIEW" in c.text or "35Case" in c.text]


def test_journey_diagram_labels_are_not_in_chunks(chunks: list[Chunk]) -> None:
    for label in ("Why Interna", "tionalise?", "Inward looking Local Cluster", "Outward facing",
                  "GLOBAL Cluster", "Create Strategy & Action Plan Implement"):  # fmt: skip
        assert not [c.chunk_id for c in chunks if label in c.text], label


def test_hyphenated_words_are_joined_in_chunks(chunks: list[Chunk]) -> None:
    text = "\n".join(c.text for c in chunks)
    assert "interna- tionalisation" not in text and "interna-tionalisation" not in text
    assert "cross-border cluster in materials and processes" in text
    assert "Cluster-based R&D cooperation between Korean and German SMEs" in text


def test_no_chunk_spans_two_steps_or_two_cases(seg: Segmentation, chunks: list[Chunk]) -> None:
    cases = {c.case_id: c for c in seg.cases}
    for c in chunks:
        unit = unit_of_line(c.line_start)
        assert unit == unit_of_line(c.line_end), c.chunk_id
        if c.part in HEADINGS:
            assert unit == c.part, (c.chunk_id, unit)
        if c.case_id:
            case = cases[c.case_id]
            assert case.line_start <= c.line_start <= c.line_end <= case.line_end
            assert c.part == case.part
        else:
            for case in seg.cases:  # a chunk outside a case never reaches into one
                assert not (case.line_start <= c.line_start <= case.line_end), (c.chunk_id, case.case_id)


def test_chunks_fit_the_chunk_size(document: Document, seg: Segmentation, chunks: list[Chunk]) -> None:
    assert max(len(c.text) for c in chunks) <= DEFAULT_SIZE
    small = chunk_sections(seg.sections, 300, 50, vocabulary_of(document))
    assert max(len(c.text) for c in small) <= 300
    assert len(small) > len(chunks)


def test_every_chunk_has_its_metadata(chunks: list[Chunk]) -> None:
    assert len(chunks) > 200
    for c in chunks:
        assert c.doc_id == "tactics-cluster-internationalisation-handbook.txt"
        assert c.part and c.section and c.heading_path
        assert 1 <= c.line_start <= c.line_end <= len(RAW)
        assert c.content_hash == hashlib.sha256(c.text.encode("utf-8")).hexdigest()
        assert c.chunk_id.startswith(f"{c.doc_id}:")
        assert c.text.strip() == c.text and c.text
        meta = c.metadata()
        assert None not in meta.values()
        assert Chunk.from_metadata(c.chunk_id, c.text, meta) == c
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_chunk_text_comes_from_its_line_span(seg: Segmentation, chunks: list[Chunk]) -> None:
    """Ignoring spaces and hyphens, a chunk starts in its first line and ends in its last line."""
    kept = {ln.line_no for s in seg.sections for ln in s.lines}  # no headings, no diagram labels
    squeeze = re.compile(r"[\s\-•]")
    for c in chunks:
        lines = [
            squeeze.sub("", clean_line(raw(n))) for n in range(c.line_start, c.line_end + 1) if n in kept
        ]
        span, text = "".join(lines), squeeze.sub("", c.text)
        head, tail = text[:30], text[-30:]
        assert 0 <= span.find(head) < len(lines[0]), c.chunk_id
        end = span.rfind(tail) + len(tail)
        assert len(span) - len(lines[-1]) < end <= len(span), c.chunk_id


def test_chunk_ids_are_stable_across_runs(chunks: list[Chunk]) -> None:
    document = load_document(CORPUS)
    again = chunk_sections(segment(document).sections, DEFAULT_SIZE, DEFAULT_OVERLAP, vocabulary_of(document))
    assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks]
    assert [(c.line_start, c.line_end) for c in again] == [(c.line_start, c.line_end) for c in chunks]


def test_every_part_has_chunks(chunks: list[Chunk]) -> None:
    parts = {c.part for c in chunks}
    assert parts >= {"front-matter", *UNITS, "tube-map", "conclusions", "linkology", "glossary"}
    assert {c.case_id for c in chunks if c.case_id} == set(CASES)
