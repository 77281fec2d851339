"""The handbook's fixed facts, in one place: its steps, parts, roles and case labels."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

#: The ten steps of the Internationalisation Journey, by number.
STEP_NUMBERS: tuple[int, ...] = tuple(range(1, 11))
FIRST_STEP, LAST_STEP = STEP_NUMBERS[0], STEP_NUMBERS[-1]
#: A step number as a validated field (1..10).
StepNumber = Annotated[int, Field(ge=FIRST_STEP, le=LAST_STEP)]

#: Step titles as the handbook's journey diagram names them (``corpus/journey.yaml`` agrees).
STEP_TITLES: dict[int, str] = {
    1: "Why?",
    2: "Assess Readiness",
    3: "Identify Opportunities",
    4: "Strategy & Action Plan",
    5: "Implement Training",
    6: "Identify Partners",
    7: "Develop Trust & Projects",
    8: "Implement Projects",
    9: "Measure Success",
    10: "Sustain the Networks",
}
FUNDING_TITLE = "Utilise Funding"

#: Who a checklist item or an answer is for.
Role = Literal["cluster_organisation", "policy_maker"]
ROLES: tuple[str, ...] = get_args(Role)
#: How answers name each role's people.
ROLE_NAMES: dict[str, str] = {
    "cluster_organisation": "cluster organisations",
    "policy_maker": "policy makers",
}

#: Parts of the handbook, in reading order.
HandbookPart = Literal[
    "front-matter",
    "step-1",
    "step-2",
    "step-3",
    "step-4",
    "step-5",
    "step-6",
    "step-7",
    "step-8",
    "step-9",
    "step-10",
    "funding",
    "tube-map",
    "conclusions",
    "linkology",
    "glossary",
]
HANDBOOK_PARTS: tuple[str, ...] = get_args(HandbookPart)

#: The case studies as the handbook labels them ("Case 7a", and the unnumbered mentoring proposal).
CaseId = Literal[
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7a",
    "7b",
    "8",
    "9",
    "10",
    "11",
    "12",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18",
    "19",
    "20",
    "mentoring",
]
CASE_IDS: tuple[str, ...] = get_args(CaseId)


def step_part(step: int) -> str:
    """The part id of a step ("step-6")."""
    return f"step-{step}"


assert all(step_part(n) in HANDBOOK_PARTS for n in STEP_NUMBERS) and set(STEP_TITLES) == set(STEP_NUMBERS)
