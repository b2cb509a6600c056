"""The library checks its arguments as the CLI does: same bounds, same messages.

A wrong argument is a UsageError (TypeError for what is not a path at all) before any
work, never an AttributeError from deep inside, an endless loop or a walk of the
whole file system.
"""

import itertools
import signal
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from retriever import Retriever, TooMuchText, UsageError, summarize_files, summarize_text
from retriever.cli.commands import EXIT_USAGE, app
from retriever.text.segment import Sentence, cap_sentence

TEXT = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。加强人民调解组织建设。\n"


@contextmanager
def deadline(seconds: int):
    """Fail instead of hanging: these calls once looped forever."""

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def built(in_tmp, fake_embedder) -> Retriever:
    (in_tmp / "doc.txt").write_text(TEXT, encoding="utf-8")
    return Retriever.build("doc.txt", index_dir="idx")[0]


K = "k (the number of passages) must be a whole number from 1 to 100, not {}"
BUDGET = "{} (the summary's budget) must be a whole number of characters from {} to 5,000, not {}"


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((None,), {}, "the question must be text, not NoneType"),
        ((123,), {}, "the question must be text, not int"),
        (("  ",), {}, "the question is empty"),
        (
            ("问" * 2001,),
            {},
            "the question is too long: 2,001 characters, the limit is 2,000 (to summarize a document, use `retriever summarize`)",
        ),
        (("问题\udcff",), {}, "the question is not valid text (bytes that are not UTF-8)"),
        (("问题",), {"mode": "fuzzy"}, "unknown mode 'fuzzy': choose one of hybrid, blend, dense, bm25"),
        (("问题",), {"k": None}, K.format("None")),
        (("问题",), {"k": "5"}, K.format("'5'")),
        (("问题",), {"k": 2.5}, K.format("2.5")),
        (("问题",), {"k": True}, K.format("True")),
        (("问题",), {"k": 0}, K.format("0")),
        (("问题",), {"k": 101}, K.format("101")),
        (("问题",), {"summary_chars": None}, BUDGET.format("summary_chars", 0, "None")),
        (("问题",), {"summary_chars": -1}, BUDGET.format("summary_chars", 0, "-1")),
        (("问题",), {"summary_chars": 5001}, BUDGET.format("summary_chars", 0, "5001")),
    ],
)
def test_ask_refuses_bad_arguments(built, args, kwargs, message):
    with pytest.raises(UsageError) as e:
        built.ask(*args, **kwargs)
    assert str(e.value) == message


def test_the_cli_says_the_same(built):
    for args, message in [
        (["ask", "问题", "-k", "0"], K.format("0")),
        (["ask", "问题", "--summary-chars", "5001"], BUDGET.format("summary_chars", 0, "5001")),
        (["ask", "问" * 2001], "the question is too long: 2,001 characters, the limit is 2,000"),
        (["summarize", "doc.txt", "--max-chars", "0"], BUDGET.format("max_chars", 1, "0")),
        (["summarize", "doc.txt", "--ratio", "1.5"], "ratio must be a number above 0 and at most 1, not 1.5"),
        (["summarize", "doc.txt", "--query", " "], "the query is empty"),
    ]:
        result = CliRunner().invoke(app, [*args, "--index-dir", "idx"] if args[0] == "ask" else args)
        assert result.exit_code == EXIT_USAGE, (args, result.stderr)
        assert " ".join(result.stderr.split()).startswith(f"error: {message}"), (args, result.stderr)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_chars": 0}, BUDGET.format("max_chars", 1, "0")),
        ({"max_chars": -5}, BUDGET.format("max_chars", 1, "-5")),
        ({"max_chars": 2.5}, BUDGET.format("max_chars", 1, "2.5")),
        ({"ratio": 0}, "ratio must be a number above 0 and at most 1, not 0"),
        ({"ratio": "0.1"}, "ratio must be a number above 0 and at most 1, not '0.1'"),
        ({"ratio": 10**400}, "ratio must be a number above 0 and at most 1, not a 401-digit number"),
        ({"max_chars": 10**400}, BUDGET.format("max_chars", 1, "a 401-digit number")),
        ({"ratio": float("nan")}, "ratio must be a number above 0 and at most 1, not nan"),
        ({"query": ""}, "the query is empty"),
    ],
)
def test_summaries_refuse_bad_budgets_at_once(in_tmp, fake_embedder, kwargs, message):
    (in_tmp / "doc.txt").write_text(TEXT, encoding="utf-8")
    with deadline(10):
        for call in (lambda: summarize_text(TEXT, **kwargs), lambda: summarize_files(["doc.txt"], **kwargs)):
            with pytest.raises(UsageError) as e:
                call()
            assert str(e.value) == message
    assert fake_embedder.calls == 0
    with pytest.raises(UsageError, match="^the text must be a str, not bytes$"):
        summarize_text(TEXT.encode())


def test_titles_patterns_and_endless_paths_are_checked(in_tmp, fake_embedder):
    (in_tmp / "doc.txt").write_text(TEXT, encoding="utf-8")
    with pytest.raises(UsageError, match="^title must be a str, not int$"):
        summarize_text(TEXT, title=123)
    for call in (
        lambda: summarize_files(".", include=[None]),
        lambda: Retriever.build(".", index_dir="idx", exclude=[b"*.txt"]),
    ):
        with pytest.raises(UsageError, match="^each pattern of (include|exclude) must be a str, not (NoneType|bytes)"):
            call()
    with pytest.raises(UsageError, match="^include must be a glob pattern or a list of them, not int$"):
        summarize_files(".", include=5)
    with deadline(20):
        with pytest.raises(UsageError, match="^more than 100,000 paths in one call; name their folders instead$"):
            summarize_files(str(n) for n in itertools.count())
        with pytest.raises(UsageError, match="^include: more than 1,000 patterns$"):
            summarize_files(".", include=itertools.repeat("*.txt"))
    assert fake_embedder.calls == 0


def test_cutting_a_sentence_always_ends():
    with deadline(10):
        assert [s.text for s in cap_sentence(Sentence("一二,三", 0, 4), 0)] == ["一", "二", ",", "三"]


def test_one_path_is_one_path(in_tmp, fake_embedder):
    (in_tmp / "doc.txt").write_text(TEXT, encoding="utf-8")
    (in_tmp / "other.txt").write_text(TEXT.replace("矛盾", "产业"), encoding="utf-8")
    with deadline(20):
        assert [r.path for r in summarize_files("doc.txt")] == ["doc.txt"]
        assert [r.path for r in summarize_files(in_tmp / "doc.txt")] == [str(in_tmp / "doc.txt")]
        r, report = Retriever.build("doc.txt", index_dir="idx")
        assert list(r.index.documents) == ["doc.txt"]
        # One glob pattern is one pattern, not its characters ("*" would match everything).
        assert [x.path for x in summarize_files(".", include="doc*")] == ["doc.txt"]
    for bad in (123, b"doc.txt", [123], None):
        with pytest.raises(TypeError):
            summarize_files(bad)
    with pytest.raises(TypeError, match="^paths must be a path or a list of paths, not int$"):
        Retriever.build(5, index_dir="idx")
    with pytest.raises(UsageError, match="^no paths given$"):
        summarize_files([])


def test_an_empty_path_is_refused_not_the_current_folder(in_tmp, fake_embedder):
    # Path("") is "." : Retriever.build(os.environ.get("DOCS", "")) would index the whole
    # folder and replace the index with it.
    (in_tmp / "doc.txt").write_text(TEXT, encoding="utf-8")
    empty_path = "^a path is empty; name a file or folder \\('.' for the current folder\\)$"
    for call in (
        lambda: Retriever.build("", index_dir="idx"),
        lambda: Retriever.build(["doc.txt", ""], index_dir="idx"),
        lambda: summarize_files(""),
    ):
        with pytest.raises(UsageError, match=empty_path):
            call()
    empty_index = "^index_dir is empty; name the index's folder, or leave it out for the default index$"
    for call in (
        lambda: Retriever.open(""),
        lambda: Retriever.build("doc.txt", index_dir=""),
        lambda: summarize_files("doc.txt", against=""),
    ):
        with pytest.raises(UsageError, match=empty_index):
            call()
    assert not (in_tmp / "idx").exists() and fake_embedder.calls == 0


def test_summarize_text_has_the_limit_of_a_file(monkeypatch, fake_embedder):
    monkeypatch.setenv("RETRIEVER_MAX_CHARS", "100")
    with pytest.raises(TooMuchText, match="^<text>: too much text \\(over 100 characters; set RETRIEVER_MAX_CHARS"):
        summarize_text("好" * 101, embedder=fake_embedder)
    assert fake_embedder.calls == 0
