"""Segment a cleaned document into the handbook's real structure.

The handbook is recognised by its repeating step cycle (Overview → Useful tools → Practical
examples → Step completion). In the extracted text the ``STEP N. TITLE`` heading often sits in
the middle or at the end of its step, so the spans follow that cycle, not the heading lines:

1. Front matter runs to the first ``OVERVIEW``; its sections start at known headings.
2. The n-th ``OVERVIEW`` opens Step n for n = 1..10; the 11th opens Utilise Funding.
3. Inside a step, the section headings split it into its four sections; the step heading line and
   the journey-diagram labels are removed from the text (the heading gives the step title).
4. Practical examples are cut into one unit per case study (``Case N:``, ``Case 7a:``, and the
   unnumbered mentoring proposal), each with its challenge, description, lessons and contact.
5. Step completion is cut per audience (both, cluster organisations, policy makers) and parsed
   into a ``Checklist`` with the handbook's words on where to go next.
6. After funding come the Tube Map, the outstanding issues and conclusions, Linkology and the
   Glossary, found by their own markers.

Any other document gets a generic segmentation by headings, with part ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ingest.clean import BULLET, EMPTY_VOCABULARY, Vocabulary, clean_lines, reflow
from ingest.handbook import FUNDING_TITLE, STEP_TITLES
from ingest.records import Audience, Case, Checklist, ChecklistItem, Document, Line, Section

SECTION_HEADINGS: dict[str, str] = {
    "OVERVIEW": "overview",
    "USEFUL TOOLS": "useful-tools",
    "PRACTICAL EXAMPLES": "practical-examples",
    "STEP COMPLETION": "step-completion",
    "STEP SUCCESS CRITERIA": "step-completion",
}
SECTION_NAMES: dict[str, str] = {
    "overview": "Overview",
    "useful-tools": "Useful tools",
    "practical-examples": "Practical examples",
    "step-completion": "Step completion",
}

FRONT_HEADINGS: tuple[tuple[str, str], ...] = (
    (r"^TACTICS RESULTS$", "TACTICS results"),
    (r"^WHAT IS TACTICS\?$", "What is TACTICS?"),
    (r"^Executive Summary$", "Executive summary"),
    (r"^The work within the TACTICS project on Cluster Internationalisation has produced", "Recommendations"),
    (r"^Introduction$", "Introduction"),
    (r"^WHY HAS THIS HANDBOOK BEEN PRODUCED\?$", "Why has this handbook been produced?"),
    (r"^TACTICS REFLECTION GROUP TASK FORCE", "TACTICS Reflection Group Task Force"),
    (r"^BEYOND THE .TRIPLE HELIX.$", "Beyond the Triple Helix"),
    (r"^FUTURE POLICY DEVELOPMENTS$", "Future policy developments"),
    (r"^AIMS OF THE HANDBOOK$", "Aims of the handbook"),
    (r"^WHO ARE THE .CUSTOMERS.\?$", "Who are the customers?"),
    (r"^The ten steps of the Cluster$", "Overview of content"),
)

_STEP_HEADING = re.compile(r"^STEP (\d{1,2})\.\s*(.+)$")
_CASE_START = re.compile(r"^Case (\d{1,2}[ab]?):\s*(.*)$")
_MENTORING_START = re.compile(r"^Proposal for a European Cluster Mentoring")
_CASE_FIELDS: tuple[tuple[str, str], ...] = (
    ("challenge", r"^The challenge to international cluster cooperation"),
    ("description", r"^Description of case"),
    ("key-lessons", r"^Key lessons learned"),
    ("contact", r"^For more information on this Case Study"),
)
_AUDIENCE_HEADER: dict[str, Audience] = {
    "for both policy makers and cluster organisations:": "both",
    "for cluster organisations:": "cluster_organisation",
    "for policy makers:": "policy_maker",
}
_NEXT_WORDS_START = re.compile(r"^(If the |If an |If the project|In practice)")
# Labels of the journey diagram that the extraction scatters through steps 1, 9 and 10.
_DIAGRAM_LABELS = frozenset(
    s.lower()
    for s in (
        "Why Interna-",
        "tionalise?",
        "Assess",
        "Readiness",
        "Identify",
        "Opportunities",
        "Create Strategy",
        "& Action Plan",
        "Implement",
        "training",
        "Partners",
        "Develop Trust",
        "& Projects",
        "Projects",
        "Measure",
        "Success",
        "Sustain",
        "the networks",
        "Outward",
        "facing",
        "GLOBAL",
        "Cluster",
        "Inward looking",
        "Local Cluster",
    )
)
_DROPPED_LABELS = frozenset({"UTILISE FUNDING", "The tube map", "Addressing the outstanding issues"})
_TAIL_MARKERS: tuple[tuple[str, str, str], ...] = (
    (r"^OUTWARD FACING$", "tube-map", "The Tube Map"),
    (
        r"^In the introduction to this Handbook a number of issues",
        "conclusions",
        "Addressing the outstanding issues",
    ),
    (r"^Conclusions and recommendations$", "conclusions", "Conclusions and recommendations"),
    (r"^Linkology$", "linkology", "Linkology"),
    (r"^Glossary of key terms$", "glossary", "Glossary of key terms"),
)


@dataclass
class Segmentation:
    """What segmentation finds in one document."""

    doc_id: str
    sections: list[Section] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    checklists: list[Checklist] = field(default_factory=list)
    step_titles: dict[int, str] = field(default_factory=dict)
    is_handbook: bool = False


def segment(document: Document) -> Segmentation:
    """Segment a loaded document: the handbook's structure when it is the handbook, else headings."""
    lines = clean_lines(document.lines)
    if is_handbook(lines):
        return _segment_handbook(document.doc_id, lines, Vocabulary.from_lines(ln.text for ln in lines))
    return _segment_generic(document.doc_id, lines)


def is_handbook(lines: Sequence[Line]) -> bool:
    """The handbook is recognised by its step cycle: ten or more overviews and step completions."""
    texts = [ln.text.strip() for ln in lines]
    return texts.count("OVERVIEW") >= 10 and texts.count("STEP COMPLETION") >= 10


def _find(lines: Sequence[Line], pattern: str, start: int = 0) -> int | None:
    rx = re.compile(pattern)
    for i in range(start, len(lines)):
        if rx.search(lines[i].text.strip()):
            return i
    return None


def _segment_handbook(doc_id: str, lines: list[Line], vocabulary: Vocabulary) -> Segmentation:
    seg = Segmentation(doc_id=doc_id, is_handbook=True, step_titles=dict(STEP_TITLES))
    overviews = [i for i, ln in enumerate(lines) if ln.text.strip() == "OVERVIEW"]
    tail_start = len(lines)
    tails: list[tuple[int, str, str]] = []
    search_from = overviews[10] if len(overviews) > 10 else overviews[-1]
    for pattern, part, name in _TAIL_MARKERS:
        idx = _find(lines, pattern, search_from)
        if idx is not None:
            tails.append((idx, part, name))
            search_from = idx + 1
    if tails:
        tail_start = tails[0][0]

    seg.sections.extend(_front_matter(doc_id, lines[: overviews[0]]))
    for k, start in enumerate(overviews[:11], start=1):
        end = overviews[k] if k < len(overviews[:11]) else tail_start
        _step_unit(seg, doc_id, k, lines[start:end], vocabulary)
    for n, (start, part, name) in enumerate(tails):
        end = tails[n + 1][0] if n + 1 < len(tails) else len(lines)
        seg.sections.extend(_tail_sections(doc_id, part, name, lines[start:end]))
    return seg


def _front_matter(doc_id: str, lines: list[Line]) -> list[Section]:
    cuts: list[tuple[int, str]] = [(0, "TACTICS results")]
    for pattern, name in FRONT_HEADINGS:
        idx = _find(lines, pattern)
        if idx is not None and idx > cuts[-1][0]:
            cuts.append((idx, name))
        elif idx == 0:
            cuts[0] = (0, name)
    sections = []
    for n, (start, name) in enumerate(cuts):
        end = cuts[n + 1][0] if n + 1 < len(cuts) else len(lines)
        body = lines[start:end]
        if any(ln.text for ln in body):
            sections.append(Section(doc_id, "front-matter", _slug(name), ("Front matter", name), body))
    return sections


def _step_unit(seg: Segmentation, doc_id: str, k: int, lines: list[Line], vocabulary: Vocabulary) -> None:
    """One step (k = 1..10) or Utilise Funding (k = 11): its sections, cases and checklist."""
    step: int | None = k if k <= 10 else None
    part = f"step-{k}" if step else "funding"
    kept: list[Line] = []
    for ln in _drop_diagram(lines):
        m = _STEP_HEADING.match(ln.text.strip())
        if m and step and int(m.group(1)) == step:
            # The heading gives the step's title; it is removed so it cannot split a sentence.
            seg.step_titles[step] = _title_case(m.group(2))
            continue
        if ln.text.strip() in _DROPPED_LABELS:
            continue
        kept.append(ln)
    title = STEP_TITLES.get(k, FUNDING_TITLE) if step else FUNDING_TITLE
    head = f"Step {step}. {title}" if step else FUNDING_TITLE

    # Heading lines are left out of the text: the heading path carries them.
    current = "overview"
    start = 1 if kept and kept[0].text.strip() == "OVERVIEW" else 0
    blocks: list[tuple[str, list[Line]]] = []
    for i, ln in enumerate(kept):
        name = SECTION_HEADINGS.get(ln.text.strip())
        if name is not None and i > 0:
            blocks.append((current, kept[start:i]))
            current, start = name, i + 1
    blocks.append((current, kept[start:]))

    for name, body in blocks:
        path = (head, SECTION_NAMES[name])
        common = {"step": step, "step_title": title if step else None}
        if name == "practical-examples":
            intro, cases = _split_cases(body)
            if any(ln.text for ln in intro):
                seg.sections.append(Section(doc_id, part, name, path, intro, **common))  # type: ignore[arg-type]
            for case_lines in cases:
                case = _parse_case(case_lines, part, step, vocabulary)
                seg.cases.append(case)
                seg.sections.extend(_case_sections(doc_id, part, path, case, case_lines, common))
        elif name == "step-completion":
            checklist, sections = _parse_checklist(doc_id, part, step, path, body, common, vocabulary)
            seg.checklists.append(checklist)
            seg.sections.extend(sections)
        else:
            seg.sections.append(Section(doc_id, part, name, path, body, **common))  # type: ignore[arg-type]


def _drop_diagram(lines: list[Line]) -> list[Line]:
    """Remove runs of four or more journey-diagram labels (blank lines between them allowed)."""
    keep = [True] * len(lines)
    i = 0
    while i < len(lines):
        if lines[i].text.strip().lower() in _DIAGRAM_LABELS:
            j, labels = i, 0
            while j < len(lines) and (
                not lines[j].text.strip() or lines[j].text.strip().lower() in _DIAGRAM_LABELS
            ):
                labels += bool(lines[j].text.strip())
                j += 1
            if labels >= 4:
                for n in range(i, j):
                    keep[n] = False
            i = max(j, i + 1)
        else:
            i += 1
    return [ln for ln, k in zip(lines, keep, strict=True) if k]


def _split_cases(lines: list[Line]) -> tuple[list[Line], list[list[Line]]]:
    starts = [
        i
        for i, ln in enumerate(lines)
        if _CASE_START.match(ln.text.strip()) or _MENTORING_START.match(ln.text.strip())
    ]
    if not starts:
        return lines, []
    cases = [lines[s : (starts[n + 1] if n + 1 < len(starts) else len(lines))] for n, s in enumerate(starts)]
    return lines[: starts[0]], cases


def _field_starts(lines: list[Line]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for name, pattern in _CASE_FIELDS:
        idx = _find(lines, pattern, found[-1][0] + 1 if found else 0)
        if idx is not None:
            found.append((idx, name))
    return found


def _text(lines: Sequence[Line], vocabulary: Vocabulary = EMPTY_VOCABULARY) -> str:
    return reflow(lines, vocabulary)[0].strip()


def _parse_case(lines: list[Line], part: str, step: int | None, vocabulary: Vocabulary) -> Case:
    first = lines[0].text.strip()
    m = _CASE_START.match(first)
    case_id = m.group(1) if m else "mentoring"
    fields = _field_starts(lines)
    title_end = fields[0][0] if fields else 1
    title = " ".join(_text(lines[:title_end], vocabulary).split())  # a title wraps over lines
    if m:
        title = re.sub(r"^Case \d{1,2}[ab]?:\s*", "", title)
    values: dict[str, str] = {}
    for n, (idx, name) in enumerate(fields):
        end = fields[n + 1][0] if n + 1 < len(fields) else len(lines)
        values[name] = _text(lines[idx + 1 if name != "contact" else idx : end], vocabulary)
    lessons_text = values.get("key-lessons", "")
    lessons = tuple(s.strip() for s in re.split(rf"\n?{BULLET} ", lessons_text) if s.strip()) or (
        (lessons_text,) if lessons_text else ()
    )
    return Case(
        case_id=case_id,
        title=title,
        part=part,
        step=step,
        challenge=values.get("challenge", ""),
        description=values.get("description", ""),
        key_lessons=lessons,
        contact=values.get("contact", ""),
        line_start=lines[0].line_no,
        line_end=lines[-1].line_no,
    )


def _case_sections(
    doc_id: str, part: str, path: tuple[str, ...], case: Case, lines: list[Line], common: dict
) -> list[Section]:
    label = f"Case {case.case_id}: {case.title}" if case.case_id != "mentoring" else case.title
    fields = _field_starts(lines)
    cuts = [0] + [idx for idx, name in fields if name != "challenge"]
    names = ["challenge"] + [name for _, name in fields if name != "challenge"]
    sections = []
    for n, start in enumerate(cuts):
        end = cuts[n + 1] if n + 1 < len(cuts) else len(lines)
        body = lines[start:end]
        if any(ln.text for ln in body):
            sections.append(
                Section(
                    doc_id,
                    part,
                    "practical-examples",
                    (*path, label, names[n].replace("-", " ").capitalize()),
                    body,
                    case_id=case.case_id,
                    case_title=case.title,
                    **common,
                )
            )
    return sections


def _parse_checklist(
    doc_id: str,
    part: str,
    step: int | None,
    path: tuple[str, ...],
    lines: list[Line],
    common: dict,
    vocabulary: Vocabulary,
) -> tuple[Checklist, list[Section]]:
    """Cut a step-completion section per audience and read its items and its words on what next."""
    body = lines
    marks: list[tuple[int, Audience | None, str]] = [(0, None, "intro")]
    next_at: int | None = None
    for i, ln in enumerate(body):
        key = ln.text.strip().lower()
        if key in _AUDIENCE_HEADER:
            marks.append((i, _AUDIENCE_HEADER[key], "items"))
        elif next_at is None and len(marks) > 1 and _NEXT_WORDS_START.match(ln.text.strip()):
            next_at = i
            marks.append((i, None, "next"))
    items: list[ChecklistItem] = []
    intro = ""
    next_words: list[str] = []
    sections: list[Section] = []
    for n, (start, audience, kind) in enumerate(marks):
        end = marks[n + 1][0] if n + 1 < len(marks) else len(body)
        chunk = body[start:end]
        if not any(ln.text for ln in chunk):
            continue
        text = _text(chunk, vocabulary)
        if kind == "intro":
            intro = text
        elif kind == "next":
            next_words.extend(p.strip() for p in text.split("\n") if p.strip())
        else:
            items.extend(ChecklistItem(t, audience) for t in _items(text) if audience)
        sections.append(Section(doc_id, part, "step-completion", path, chunk, audience=audience, **common))
    checklist = Checklist(part=part, step=step, intro=intro, items=tuple(items), next_words=tuple(next_words))
    return checklist, sections


def _items(text: str) -> list[str]:
    """Bullet items of a checklist group; ``-`` sub-items are folded into their parent item."""
    items: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if line.startswith(BULLET):
            items.append(line.lstrip(BULLET).strip())
        elif line.startswith("- ") and items:
            sep = " " if items[-1].endswith(":") else "; "
            items[-1] = f"{items[-1]}{sep}{line[2:].strip()}"
    return items


def _tail_sections(doc_id: str, part: str, name: str, lines: list[Line]) -> list[Section]:
    body = [ln for ln in lines if ln.text.strip() not in _DROPPED_LABELS]
    if part == "tube-map":
        caption = _find(body, r"The Tube Map")
        if caption is not None:
            # The map itself extracts as scattered station-name fragments; keep its caption and key.
            body = [ln for i, ln in enumerate(body) if i >= caption or len(ln.text.strip()) >= 25]
    if name == "Conclusions and recommendations":
        return _numbered_subsections(doc_id, part, name, body)
    return [Section(doc_id, part, _slug(name), (name,), body)]


def _numbered_subsections(doc_id: str, part: str, name: str, lines: list[Line]) -> list[Section]:
    starts = [i for i, ln in enumerate(lines) if re.match(r"^\d\)\s", ln.text.strip())]
    cuts = [0, *starts]
    sections = []
    for n, start in enumerate(cuts):
        end = cuts[n + 1] if n + 1 < len(cuts) else len(lines)
        body = lines[start:end]
        if not any(ln.text for ln in body):
            continue
        # A heading can wrap onto a second line ("… Internation-" / "alisation"): reflow joins it.
        first, *rest = [ln for ln in body[:3] if ln.text] or [body[0]]
        wrapped = rest and (first.text.endswith("-") or len(rest[0].text) < 30)
        heading = reflow([first, rest[0]] if wrapped else [first])[0] if n else ""
        sub = (name,) if n == 0 else (name, heading.strip())
        sections.append(Section(doc_id, part, _slug(name), sub, body))
    return sections


def _segment_generic(doc_id: str, lines: list[Line]) -> Segmentation:
    """Any other document: sections start at Markdown headings or short all-capital heading lines."""
    seg = Segmentation(doc_id=doc_id)
    current: list[Line] = []
    heading = "Document"
    for ln in lines:
        text = ln.text.strip()
        is_heading = text.startswith("#") or (
            4 <= len(text) <= 60 and text.upper() == text and any(c.isalpha() for c in text)
        )
        if is_heading and any(x.text for x in current):
            seg.sections.append(Section(doc_id, "other", _slug(heading), (heading,), current))
            current = []
        if is_heading:
            heading = text.lstrip("#").strip() or heading
        current.append(ln)
    if any(x.text for x in current):
        seg.sections.append(Section(doc_id, "other", _slug(heading), (heading,), current))
    return seg


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "body"


def _title_case(raw: str) -> str:
    small = {"the", "and", "of"}
    words = [
        w.capitalize() if w.lower() not in small or i == 0 else w.lower() for i, w in enumerate(raw.split())
    ]
    return " ".join(words)


def vocabulary_of(document: Document) -> Vocabulary:
    """The document's vocabulary, used by ``reflow`` to tell real hyphens from broken words."""
    return Vocabulary.from_lines(ln.text for ln in clean_lines(document.lines))
