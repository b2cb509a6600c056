"""jieba's search-mode words of a question, without loading jieba's dictionary.

Passages are cut by rjieba (jieba-rs), whose dictionary takes about 0.1 s to load on
import: a third of a cold `retriever ask`, spent on a question of a dozen characters.
This module cuts the same words from an SQLite copy of the same dictionary (jieba's
dict.txt and its HMM for unknown words), made once and cached. A question looks up
only its own substrings, in one query: about 0.2 ms, and no start-up cost.

The algorithm is jieba-rs's, step by step, so that a question's words are the words
its passages were indexed under (tests compare both on real text):
- text splits into runs of CJK, ASCII letters, digits and +#&._%- (cut further) and
  everything else (whitespace kept whole, any other character alone);
- a run's words are the most probable path through the dictionary words it contains
  (log frequencies, ties to the longer word);
- consecutive single characters that are not a dictionary word together go to the
  HMM (Viterbi over Begin/Middle/End/Single states), which finds unknown words;
- search mode adds each word's two- and three-character dictionary words before it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
import sqlite3
import threading
import warnings
from collections.abc import Iterable
from contextlib import closing
from functools import lru_cache
from pathlib import Path

from retriever import atomic
from retriever.config import user_cache_dir

RECIPE = 3  # in the cache file's name: a change in what is stored makes a new file

_CJK = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002b73f"
    "\U0002b740-\U0002b81f\U0002b820-\U0002ceaf\U0002ceb0-\U0002ebef\U0002f800-\U0002fa1f"
)
_RUN = re.compile(f"([{_CJK}a-zA-Z0-9+#&._%\\-]+)")
_SPACE = re.compile(r"(\r\n|\s)")
_HMM_HAN = re.compile("([\u4e00-\u9fd5]+)")
# Letters and digits inside an unknown stretch: a run, joined to the next run by one
# of . _ - ("3-MCPD", "2.4km", "557-75-5"), then perhaps a percent sign.
_HMM_SKIP = re.compile(r"([a-zA-Z0-9]+(?:[._\-][a-zA-Z0-9]+)*%?)")
_CONNECTOR = re.compile(r"[._\-]")

_STATES = "BEMS"  # jieba-rs's order; ties between states go to the later one
_PREVIOUS = {"B": "ES", "E": "BM", "M": "MB", "S": "SE"}
_MIN = -3.14e100  # log probability of an emission the HMM never saw
_BATCH = 900  # substrings per query, under SQLite's limit on parameters


class Lexicon:
    """jieba's dictionary and HMM in an SQLite file, read a question at a time."""

    def __init__(self, path: Path):
        # A service answers from several threads: the connection is shared, its use locked.
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        self.log_total = math.log(int(meta["total"]))
        self.longest = int(meta["longest"])
        self.start = json.loads(meta["start"])
        self.trans = json.loads(meta["trans"])

    def freqs(self, words: Iterable[str]) -> dict[str, int]:
        """The dictionary frequency of each of `words` that is in the dictionary."""
        words = list(dict.fromkeys(words))
        found: dict[str, int] = {}
        with self._lock:
            for lo in range(0, len(words), _BATCH):
                batch = words[lo : lo + _BATCH]
                marks = ",".join("?" * len(batch))
                found.update(self._db.execute(f"SELECT word, freq FROM words WHERE word IN ({marks})", batch))
        return found

    def emissions(self, chars: Iterable[str]) -> dict[str, tuple[float, ...]]:
        """Each character's HMM log emission probabilities, in _STATES order."""
        chars = list(dict.fromkeys(chars))
        with self._lock:
            rows = self._db.execute(f"SELECT ch, b, e, m, s FROM emit WHERE ch IN ({','.join('?' * len(chars))})", chars)
            return {ch: tuple(_MIN if p is None else p for p in probs) for ch, *probs in rows}

    def cut(self, text: str) -> list[str]:
        """jieba's precise-mode words with the HMM (rjieba.cut(text))."""
        return self._cut(text)[0]

    def cut_for_search(self, text: str) -> list[str]:
        """jieba's search-mode words (rjieba.cut_for_search(text)): each word preceded
        by its parts: those of two or more characters with a letter between . _ -
        ("WES-5.4.5" gives "WES"), then its dictionary words of two and three characters."""
        words, known = self._cut(text)
        out: list[str] = []
        for w in words:
            if _CONNECTOR.search(w):
                out.extend(p for p in _CONNECTOR.split(w) if len(p) >= 2 and re.search("[a-zA-Z]", p))
            for n in (2, 3):
                if len(w) > n:
                    out.extend(g for g in (w[i : i + n] for i in range(len(w) - n + 1)) if g in known)
            out.append(w)
        return out

    def _cut(self, text: str) -> tuple[list[str], dict[str, int]]:
        """The words, and the dictionary's frequencies of every word inside the text's
        runs (all that search mode looks up: a word of more than one character never
        spans two runs)."""
        words: list[str] = []
        runs = _RUN.split(text)
        freq = self.freqs(
            r[i:j] for r in runs[1::2] for i in range(len(r)) for j in range(i + 1, min(len(r), i + self.longest) + 1)
        )
        longest = max(map(len, freq), default=1)  # of the words found: bounds the search below
        for n, block in enumerate(runs):
            if not block:
                continue
            if n % 2:  # a run that the dictionary cuts
                self._cut_run(block, freq, longest, words)
            else:
                for piece in _SPACE.split(block):
                    if _SPACE.fullmatch(piece):
                        words.append(piece)
                    else:
                        words.extend(piece)
        return words, freq

    def _cut_run(self, run: str, freq: dict[str, int], longest: int, words: list[str]) -> None:
        n = len(run)
        # The most probable path from each position to the end: (log probability, end of
        # the first word). Ties go to the longer word, as in jieba.
        route: list[tuple[float, int]] = [(0.0, 0)] * (n + 1)
        for i in range(n - 1, -1, -1):
            ends = [j for j in range(i + 1, min(n, i + longest) + 1) if run[i:j] in freq] or [i + 1]
            route[i] = max((math.log(freq.get(run[i:j], 1)) - self.log_total + route[j][0], j) for j in ends)
        i, single = 0, -1  # single: start of the pending run of one-character words
        while i < n:
            j = route[i][1]
            if j - i == 1:
                single = i if single < 0 else single
            else:
                if single >= 0:
                    self._unknown(run[single:i], freq, words)
                    single = -1
                words.append(run[i:j])
            i = j
        if single >= 0:
            self._unknown(run[single:], freq, words)

    def _unknown(self, chars: str, freq: dict[str, int], words: list[str]) -> None:
        """Single characters in a row: one word if the dictionary has them together,
        else the HMM's words when they are not."""
        if len(chars) == 1:
            words.append(chars)
        elif chars in freq:
            words.extend(chars)
        else:
            self._hmm(chars, words)

    def _hmm(self, text: str, words: list[str]) -> None:
        for n, block in enumerate(_HMM_HAN.split(text)):
            if not block:
                continue
            if n % 2 == 0:
                words.extend(piece for piece in _HMM_SKIP.split(block) if piece)
            elif len(block) == 1:
                words.append(block)
            else:
                words.extend(self._viterbi(block))

    def _viterbi(self, text: str) -> list[str]:
        emit = self.emissions(text)
        unseen = (_MIN,) * 4
        probs = emit.get(text[0], unseen)
        v = {y: self.start[y] + probs[k] for k, y in enumerate(_STATES)}
        back: list[dict[str, str]] = []
        for ch in text[1:]:
            probs = emit.get(ch, unseen)
            step, came = {}, {}
            for k, y in enumerate(_STATES):
                step[y], came[y] = max((v[y0] + self.trans[y0][y] + probs[k], y0) for y0 in _PREVIOUS[y])
            back.append(came)
            v = step
        state = max((v[y], y) for y in "ES")[1]
        path = [state]
        for came in reversed(back):
            state = came[state]
            path.append(state)
        path.reverse()
        out, begin, after = [], 0, 0
        for i, state in enumerate(path):
            if state == "B":
                begin = i
            elif state in "ES":
                out.append(text[begin if state == "E" else i : i + 1])
                after = i + 1
        if after < len(text):
            out.append(text[after:])
        return out


def _jieba_files() -> tuple[Path, Path] | None:
    """jieba's dictionary and HMM emission table, found without importing jieba."""
    spec = importlib.util.find_spec("jieba")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(spec.submodule_search_locations[0])
    files = root / "dict.txt", root / "finalseg" / "prob_emit.py"
    return files if all(f.is_file() for f in files) else None


def _cache_file(dictionary: Path) -> Path:
    stat = dictionary.stat()
    key = hashlib.sha256(f"{dictionary.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{RECIPE}".encode()).hexdigest()[:16]
    return user_cache_dir() / f"jieba-lexicon-{key}.sqlite"


def build(dictionary: Path, out: Path) -> None:
    """Write jieba's dictionary and HMM to `out` (about 1 s), atomically."""
    with warnings.catch_warnings():
        # jieba imports pkg_resources, which recent setuptools warns about on stderr.
        warnings.simplefilter("ignore", UserWarning)
        from jieba.finalseg import emit_P, start_P, trans_P  # the HMM tables, as jieba ships them

    freqs: dict[str, int] = {}
    for line in dictionary.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts:
            # As jieba-rs reads it: a repeated word keeps its last frequency.
            freqs[parts[0]] = int(parts[1]) if len(parts) > 1 else 0
    chars = sorted(set().union(*(emit_P[s] for s in _STATES)))
    trans = {y0: {y: trans_P[y0].get(y, _MIN) for y in _STATES} for y0 in _STATES}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing_path(out) as tmp:
        db = sqlite3.connect(tmp)
        with db:
            db.execute("CREATE TABLE words (word TEXT PRIMARY KEY, freq INTEGER) WITHOUT ROWID")
            db.execute("CREATE TABLE emit (ch TEXT PRIMARY KEY, b REAL, e REAL, m REAL, s REAL) WITHOUT ROWID")
            db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            db.executemany("INSERT INTO words VALUES (?, ?)", freqs.items())
            db.executemany(
                "INSERT INTO emit VALUES (?, ?, ?, ?, ?)", ((c, *(_six(emit_P[s].get(c)) for s in _STATES)) for c in chars)
            )
            meta = {
                "total": str(sum(freqs.values())),
                "longest": str(max(map(len, freqs))),
                "start": json.dumps(start_P),
                "trans": json.dumps(trans),
                "dictionary": str(dictionary.resolve()),
            }
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        db.close()


def _six(p: float | None) -> float | None:
    # jieba-rs reads its emission table with six decimals (cppjieba's copy of jieba's):
    # rounded the same way, near ties in the HMM go the same way.
    return None if p is None else float(f"{p:.6f}")


def _drop_orphans(kept: Path) -> None:
    """Remove the lexicons made for a jieba that is gone (a deleted virtualenv or clone):
    each is keyed by its dictionary's path and takes 7 MB. A lexicon that is unreadable
    or names no dictionary (made before the path was recorded) goes too: it is made
    again, in a second, if its jieba is still in use."""
    for other in kept.parent.glob("jieba-lexicon-*.sqlite"):
        if other == kept:
            continue
        try:
            with closing(sqlite3.connect(f"file:{other}?mode=ro", uri=True)) as db:
                row = db.execute("SELECT value FROM meta WHERE key = 'dictionary'").fetchone()
        except sqlite3.Error:
            row = None
        if row is None or not Path(row[0]).is_file():
            other.unlink(missing_ok=True)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon | None:
    """The cached lexicon, made on first use; None where it cannot be (no jieba
    dictionary, no writable cache): callers then use rjieba, which cuts the same words."""
    files = _jieba_files()
    if files is None:
        return None
    try:
        path = _cache_file(files[0])
        if not path.is_file():
            build(files[0], path)
            _drop_orphans(path)
        try:
            return Lexicon(path)
        except (sqlite3.Error, KeyError, ValueError):  # a damaged file: make it again
            build(files[0], path)
            return Lexicon(path)
    except (OSError, sqlite3.Error, ImportError, ValueError, KeyError):
        return None


if __name__ == "__main__":
    # `python -m retriever.text.lexicon`: make the lexicon now (make setup does this), so
    # that the first `retriever ask` does not spend a second on it.
    if lexicon() is None:
        raise SystemExit("retriever: cannot make the lexicon (is jieba installed, the cache directory writable?)")
