"""The lexicon cuts questions as rjieba does, without loading rjieba."""

import json
import subprocess
import sys

import pytest
import rjieba
from conftest import CORPUS, ROOT

from retriever.text import lexicon, words

# Each of jieba's code paths: dictionary words, the HMM on unknown words (names,
# 中出 of jieba's own example), near ties in the HMM (常在较), letters and digits joined
# by . _ - (and what is left of them), whitespace, characters outside CJK, traditional
# characters and CJK extensions.
TRICKY = [
    "我们中出了一个叛徒",
    "小明硕士毕业于中国科学院计算所，后在日本京都大学深造",
    "常在较陡峭的礁岸可发现它们成群的洄",
    "水解生成3-MCPD，长2.4km，编号QS3304.1201.0002和W.M.Deane，T.F.之后",
    "增长50%，版本WES-5.4.5，formula_1formula_2，C++与AT&T",
    "2011-2020年规划\r\n第二行\t制表 全角　空格",
    "emoji 👪 和 ① ② 以及 «引号»",
    "臺灣的經濟發展與兩岸關係",
    "讥䶯䶰䶱䶲䶳䶴䶵𦡦",
    "",
]


@pytest.fixture(scope="module")
def lex():
    cut = lexicon.lexicon()
    assert cut is not None
    return cut


def _texts() -> list[str]:
    lines = [line for f in sorted(CORPUS.glob("*")) for line in f.read_text(encoding="utf-8").splitlines()]
    questions = [json.loads(line)["question"] for line in (ROOT / "benchmarks" / "questions.jsonl").open(encoding="utf-8")]
    return TRICKY + questions + lines


def test_words_are_rjiebas_on_the_corpus_the_questions_and_tricky_text(lex):
    texts = _texts()
    assert len(texts) > 250 and sum(map(len, texts)) > 15_000
    for text in texts:
        assert lex.cut_for_search(text) == rjieba.cut_for_search(text), text
        assert lex.cut(text) == rjieba.cut(text), text


def test_search_mode_gives_parts_before_the_word(lex):
    assert lex.cut_for_search("南京市长江大桥") == ["南京", "京市", "南京市", "长江", "大桥", "长江大桥"]
    assert lex.cut_for_search("版本WES-5.4.5") == ["版本", "WES", "WES-5.4.5"]


def test_a_question_is_answered_without_loading_rjieba():
    # A cold `retriever ask` must not pay for rjieba's dictionary (0.1 s).
    code = (
        "import sys; from retriever.text.words import query_terms; "
        "print(list(query_terms('如何化解矛盾纠纷?')), 'rjieba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['化解', '矛盾', '化解矛盾', '纠纷'] False"


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    lexicon.lexicon.cache_clear()
    yield tmp_path
    lexicon.lexicon.cache_clear()


def test_the_lexicon_is_made_once_and_a_damaged_one_again(fresh):
    first = lexicon.lexicon()
    [made] = (fresh / "retriever").glob("jieba-lexicon-*.sqlite")
    stamp = made.stat().st_mtime_ns
    lexicon.lexicon.cache_clear()
    assert lexicon.lexicon() is not None and made.stat().st_mtime_ns == stamp  # reused, not made again
    assert first.cut_for_search("化解矛盾纠纷") == ["化解", "矛盾", "化解矛盾", "纠纷"]
    made.write_bytes(b"not a database")
    lexicon.lexicon.cache_clear()
    assert lexicon.lexicon().cut_for_search("化解矛盾纠纷") == ["化解", "矛盾", "化解矛盾", "纠纷"]


def test_without_jiebas_dictionary_questions_go_to_rjieba(fresh, monkeypatch):
    monkeypatch.setattr(lexicon, "_jieba_files", lambda: None)
    assert lexicon.lexicon() is None
    assert words.question_cutter() == rjieba.cut_for_search
    assert words.query_terms("如何化解矛盾纠纷?") == ("化解", "矛盾", "化解矛盾", "纠纷")


def test_making_a_lexicon_removes_those_of_a_jieba_that_is_gone(fresh, tmp_path):
    gone_dict, live_dict = tmp_path / "gone" / "dict.txt", tmp_path / "live" / "dict.txt"
    for d in (gone_dict, live_dict):
        d.parent.mkdir()
        d.write_text("化解 10 v\n", encoding="utf-8")
    cache = fresh / "retriever"
    lexicon.build(gone_dict, cache / "jieba-lexicon-gone.sqlite")
    lexicon.build(live_dict, cache / "jieba-lexicon-live.sqlite")
    (cache / "jieba-lexicon-old.sqlite").write_bytes(b"not a database")
    gone_dict.unlink()
    lexicon.lexicon()
    assert sorted(p.name for p in cache.glob("jieba-lexicon-*.sqlite")) == sorted(
        ["jieba-lexicon-live.sqlite", lexicon._cache_file(lexicon._jieba_files()[0]).name]
    )
