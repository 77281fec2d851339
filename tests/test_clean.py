"""Cleaning of extraction artifacts (ingest/clean.py): fast, no model, no index."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.clean import BULLET, EMPTY_VOCABULARY, Vocabulary, clean_line, clean_lines, reflow
from ingest.records import Line


def lines_of(*texts: str, page: int | None = None) -> list[Line]:
    return [Line(t, n, page) for n, t in enumerate(texts, start=1)]


def reflowed(*texts: str, vocabulary: Vocabulary = EMPTY_VOCABULARY) -> str:
    return reflow(clean_lines(lines_of(*texts)), vocabulary)[0]


# -- hyphenation ------------------------------------------------------------------------------


def test_hyphenated_line_break_is_joined_into_one_word() -> None:
    assert reflowed("the road to interna-", "tionalisation of clusters") == (
        "the road to internationalisation of clusters"
    )


def test_hyphenated_line_break_across_a_blank_line_is_joined() -> None:
    # pypdf puts a blank line between the halves when a page or column breaks inside the word
    assert reflowed(
        "Finding relevant partners and developing collaborative relation-", "", "ships with them"
    ) == ("Finding relevant partners and developing collaborative relationships with them")


def test_inline_hyphen_is_kept() -> None:
    assert reflowed("a cross-border cluster in materials") == "a cross-border cluster in materials"
    assert clean_line("cross-border") == "cross-border"


def test_line_break_after_a_real_hyphen_keeps_the_hyphen_when_the_vocabulary_knows_the_compound() -> None:
    texts = ("cross-border collaborations are common", "many high value-added cross-", "border projects")
    vocabulary = Vocabulary.from_lines(clean_line(t) for t in texts)
    assert "cross-border" in vocabulary.compounds
    assert vocabulary.keep_hyphen("cross", "border")
    assert reflowed(*texts, vocabulary=vocabulary).endswith("high value-added cross-border projects")


def test_line_break_hyphen_is_dropped_when_the_compound_is_unknown() -> None:
    vocabulary = Vocabulary.from_lines(["nothing about that word here"])
    assert reflowed("many cross-", "border projects", vocabulary=vocabulary) == "many crossborder projects"


def test_hyphen_is_dropped_when_the_joined_word_is_also_known() -> None:
    # "co-operation" and "cooperation" both in the text: the joined spelling wins at a line break
    vocabulary = Vocabulary.from_lines(["co-operation and cooperation"])
    assert not vocabulary.keep_hyphen("co", "operation")


def test_hyphen_before_a_capital_or_bullet_is_not_a_word_break() -> None:
    assert reflowed("ideas for Step-", "Six partners") == "ideas for Step- Six partners"
    assert reflowed("a list with a dash-", "• next item") == f"a list with a dash-\n{BULLET} next item"


def test_url_broken_at_its_own_hyphen_is_kept_whole() -> None:
    assert reflowed("see http://www.example.eu/cluster-", "mapping for details") == (
        "see http://www.example.eu/cluster-mapping for details"
    )


# -- page numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("19OVERVIEW", "OVERVIEW"),
        (" 17OVERVIEW ", "OVERVIEW"),
        (" 47OVERVIEW", "OVERVIEW"),
        ("2424 OVERVIEW ", "OVERVIEW"),  # a page number printed twice
        ("38 OVERVIEW ", "OVERVIEW"),
        (" 2222 demonstrators etc. The potential", "demonstrators etc. The potential"),
        ("35Case 8: Strategic match-making", "Case 8: Strategic match-making"),
        (
            "34 Case 7a: Cooperation with the Enterprise Europe",
            "Case 7a: Cooperation with the Enterprise Europe",
        ),
        ("12 BEYOND THE “TRIPLE HELIX”", "BEYOND THE “TRIPLE HELIX”"),
        (" 39means not a goal in itself.", "means not a goal in itself."),
        ("23both countries", "both countries"),
        (" 60 tween cluster organisations", "tween cluster organisations"),
        (" 53STEP SUCCESS CRITERIA", "STEP SUCCESS CRITERIA"),
        ("40 PRACTICAL EXAMPLES", "PRACTICAL EXAMPLES"),
    ],
)
def test_glued_page_numbers_are_removed(raw: str, clean: str) -> None:
    assert clean_line(raw) == clean


def test_page_number_glued_to_a_two_letter_word_is_removed() -> None:
    assert clean_line(" 57In the introduction to this Handbook") == "In the introduction to this Handbook"


@pytest.mark.parametrize(
    "text",
    [
        "4) is the prioritisation of markets and partners.",
        "10) are invaluable in helping a cluster organisation",
        "30.000, and the duration of the funded projects is about 9 months.",
        "13 milieus were awarded",
        "1, 3 & 6",
        "3D printing",
        "1998, p.215-216)",
        "2012 was the year",
    ],
)
def test_numbers_that_belong_to_the_text_are_kept(text: str) -> None:
    assert clean_line(text) == text


@pytest.mark.parametrize("raw", ["18", " 49 ", "7", "123"])
def test_a_line_with_only_a_page_number_becomes_empty(raw: str) -> None:
    assert clean_line(raw) == ""


# -- characters -------------------------------------------------------------------------------


def test_tabs_between_words_become_single_spaces() -> None:
    assert clean_line("The\tchallenge\tto\tinternational\tcluster\tcooperation") == (
        "The challenge to international cluster cooperation"
    )
    assert clean_line("1)\t\tLever\tCluster\tOrganisations") == "1) Lever Cluster Organisations"
    assert clean_line("Regional\t Innovation\t Strategies") == "Regional Innovation Strategies"


@pytest.mark.parametrize("glyph", ["•", "●", "▪", "◦", "➢", "\uf0b7", "\uf0a7", "\uf076", "\uf0d8", "\uf0fc"])
def test_bullet_glyphs_are_normalised(glyph: str) -> None:
    assert clean_line(f"{glyph} Identify the partners") == f"{BULLET} Identify the partners"
    assert clean_line(f"  {glyph}\tIdentify the partners") == f"{BULLET} Identify the partners"


def test_black_square_and_nul_are_removed() -> None:
    assert clean_line("cluster■organisations") == "cluster organisations"
    assert clean_line("■ ■") == ""
    assert clean_line("clus\x00ter") == "cluster"
    assert clean_line("a\x07b\x1fc\u200bd\ufeffe") == "abcde"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("ﬁnance", "finance"), ("ﬂows", "flows"), ("eﬀective", "effective"), ("ﬃcient", "fficient")],
)
def test_ligatures_are_expanded_by_nfkc(raw: str, clean: str) -> None:
    assert clean_line(raw) == clean


def test_non_breaking_spaces_collapse() -> None:
    assert clean_line("cluster\u00a0\u00a0 policy ") == "cluster policy"


def test_words_and_punctuation_are_unchanged() -> None:
    text = "INTER’MAT – cross-border cluster in materials (RIE) “GLOBAL” 26.02.2012"
    assert clean_line(text) == text


# -- line bookkeeping -------------------------------------------------------------------------


def test_clean_lines_keeps_line_numbers_and_pages() -> None:
    raw = [Line("19OVERVIEW", 554, 3), Line("18", 550, 3), Line("a\tb", 12, None), Line("", 13, 4)]
    cleaned = clean_lines(raw)
    assert [(ln.line_no, ln.page) for ln in cleaned] == [(554, 3), (550, 3), (12, None), (13, 4)]
    assert [ln.text for ln in cleaned] == ["OVERVIEW", "", "a b", ""]


def test_reflow_maps_every_character_to_its_source_line() -> None:
    source = lines_of(
        "The road to interna-",
        "tionalisation is long.",
        "",
        "• First item of a list",
        "• Second item that wraps onto",
        "the next line.",
        "A new sentence.",
    )
    text, origin = reflow(source)
    assert len(origin) == len(text)
    assert text == (
        "The road to internationalisation is long.\n• First item of a list\n"
        "• Second item that wraps onto the next line.\nA new sentence."
    )
    assert origin[text.index("interna")] == 0
    assert origin[text.index("tionalisation")] == 1
    assert origin[text.index("First")] == 3
    assert origin[text.index("the next")] == 5
    assert origin[-1] == 6
    _assert_origin_consistent(source, text, origin)


def _assert_origin_consistent(source: list[Line], text: str, origin: list[int]) -> None:
    """The characters mapped to each line are that line's text (without a joined hyphen), in order."""
    assert len(origin) == len(text)
    assert origin == sorted(origin)
    for idx, line in enumerate(source):
        mine = "".join(ch for ch, o in zip(text, origin, strict=True) if o == idx).lstrip(" \n")
        if line.text:
            assert mine in (line.text, line.text[:-1]), (idx, mine, line.text)
        else:
            assert mine == ""


_WORDS = st.text(alphabet="abcdefghij", min_size=1, max_size=8)
_LINE = st.one_of(
    st.just(""),
    st.lists(_WORDS, min_size=1, max_size=6).map(" ".join),
    st.lists(_WORDS, min_size=1, max_size=6).map(lambda ws: " ".join(ws) + "-"),
    st.lists(_WORDS, min_size=1, max_size=6).map(lambda ws: "• " + " ".join(ws)),
    st.lists(_WORDS, min_size=1, max_size=6).map(lambda ws: " ".join(ws).capitalize() + "."),
)


@given(st.lists(_LINE, max_size=12))
def test_reflow_origin_property(texts: list[str]) -> None:
    source = lines_of(*texts)
    text, origin = reflow(source)
    _assert_origin_consistent(source, text, origin)


def test_reflow_of_nothing_is_empty() -> None:
    assert reflow([]) == ("", [])
    assert reflow(lines_of("", "")) == ("", [])
