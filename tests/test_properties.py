"""Property-based tests (hypothesis) of cleaning and segmentation on arbitrary text."""

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from retriever.config import SegmentConfig  # noqa: E402
from retriever.text.clean import clean  # noqa: E402
from retriever.text.segment import segment, split_sentences  # noqa: E402

# Chinese-looking text: Han characters, the punctuation the splitter and the outline
# detector care about, outline markers, digits, Latin letters, spaces and line breaks.
PIECES = st.sampled_from(
    list(
        "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研质"
        "。，、！？；：…“”‘’《》（）() \n\t一二三四五六七八九十壹①②1234567890abcXYZ-·"
    )
)
TEXT = st.lists(PIECES, max_size=600).map("".join)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(TEXT)
def test_cleaning_is_idempotent(text):
    once = clean(text)
    assert clean(once) == once


@FAST
@given(TEXT)
def test_sentences_are_spans_of_the_text(text):
    for s in split_sentences(text, offset=7):
        assert text[s.start - 7 : s.end - 7] == s.text
        assert s.text.strip()


@FAST
@given(TEXT)
def test_passages_are_spans_within_bounds(text):
    cleaned = clean(text)
    config = SegmentConfig()
    passages = segment(cleaned, "d", "t", config)
    for p in passages:
        assert cleaned[p.start : p.end] == p.text
        assert len(p.text) <= config.max_chars
    starts = [p.start for p in passages]
    assert starts == sorted(starts)
    # Passages never overlap.
    assert all(a.end <= b.start for a, b in zip(passages, passages[1:]))


@FAST
@given(TEXT)
def test_no_running_text_is_lost_by_segmentation(text):
    """Every character of the cleaned text but whitespace lies in some passage, except
    on the lines segmentation drops on purpose: the title line and a table of contents."""
    cleaned = clean(text)
    covered = set()
    for p in segment(cleaned, "d", "t"):
        covered.update(range(p.start, p.end))
    lost_lines = {cleaned.count("\n", 0, i) for i, c in enumerate(cleaned) if not c.isspace() and i not in covered}
    assert len(lost_lines) <= 1 or "目录" in cleaned or "提纲" in cleaned


@FAST
@given(TEXT, st.integers(min_value=1, max_value=400))
def test_document_summaries_keep_their_promises(text, budget):
    """What the README promises of a summary: within its budget, marks included; each
    quote a span of the document, on one line, no heading and no outline marker at its
    start; 「…」 where a quote begins inside its sentence."""
    from conftest import FakeEmbedder

    from retriever.summary.extract import summarize_document
    from retriever.text.outline import LEADING_MARKER, detect_heading

    cleaned = clean(text)
    summary = summarize_document(cleaned, "d", "t", FakeEmbedder(), budget)
    assert len(summary.text) <= budget
    assert summary.text == "".join(s.shown for s in summary.sentences)
    for before, s in zip([None, *summary.sentences], summary.sentences):
        assert cleaned[s.start : s.end] == s.text and "\n" not in s.text
        assert not LEADING_MARKER.match(s.text)
        heading = detect_heading(s.text.rstrip("。．.！!；;"))
        assert not (heading and heading.end >= len(s.text.rstrip("。．.！!；;")) and heading.rank < 6)
        continues = before is not None and before.end == s.start
        assert s.shown.startswith("…") == (s.cut_start and not continues)
