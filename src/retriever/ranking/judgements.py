"""Judgements on results: "this answers it" or "not this", from the page, the JSON API
or `retriever judge`, kept beside the index (store.py) with the question and what the
ranker saw of every candidate, so that `retriever tune` can learn from them without the
question being asked again. Nothing leaves the machine.

A judgement becomes one training question for the ranker (model.Group): "good" makes
the judged passage the one to put first; "bad" makes every other candidate preferable
to it.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retriever.errors import StorageError, UsageError
from retriever.ranking.features import KINDS, SIGNALS
from retriever.ranking.model import Group
from retriever.ranking.store import JUDGEMENTS, tuning_dir

VERDICTS = ("good", "bad")

_writing = threading.Lock()  # the service records judgements from several threads


@dataclass(frozen=True)
class Judgement:
    question: str
    verdict: str  # "good" or "bad"
    passage: dict  # the judged passage: passage_id, doc_id, start, end (as the index had it)
    signals: tuple[str, ...]  # the names of the candidates' columns, as this version computed them
    candidates: np.ndarray  # (candidates, signals): what the ranker saw
    kinds: dict[str, float]
    judged: int  # the judged passage's row among the candidates
    time: str = ""

    def to_dict(self) -> dict:
        return {
            "time": self.time,
            "question": self.question,
            "verdict": self.verdict,
            "passage": self.passage,
            "judged": self.judged,
            "kinds": self.kinds,
            "signals": list(self.signals),
            "candidates": [[round(float(v), 5) for v in row] for row in self.candidates],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Judgement:
        candidates = np.asarray(d["candidates"], dtype=np.float64)
        signals = tuple(d["signals"])
        if d["verdict"] not in VERDICTS or candidates.ndim != 2 or candidates.shape[1] != len(signals):
            raise ValueError("not a judgement")
        if not 0 <= int(d["judged"]) < len(candidates):
            raise ValueError("its judged row is not among its candidates")
        return cls(
            d["question"], d["verdict"], d["passage"], signals, candidates, dict(d["kinds"]), int(d["judged"]), d.get("time", "")
        )

    def group(self, weight: float = 1.0) -> Group:
        """The judgement as a training question, its columns and kinds those of this
        version's SIGNALS and KINDS (one it was not recorded with counts as 0)."""
        columns = np.zeros((len(self.candidates), len(SIGNALS)))
        for j, name in enumerate(self.signals):
            if name in SIGNALS:
                columns[:, SIGNALS.index(name)] = self.candidates[:, j]
        relevant = np.zeros(len(self.candidates), dtype=bool)
        if self.verdict == "good":
            relevant[self.judged] = True
        else:
            relevant[:] = True
            relevant[self.judged] = False
        kinds = {k: float(self.kinds.get(k, 0.0)) for k in KINDS}
        return Group(columns, kinds, relevant, weight)


def check_verdict(verdict: object) -> str:
    if verdict not in VERDICTS:
        raise UsageError(f"unknown verdict {verdict!r}: choose good (it answers the question) or bad (it does not)")
    return str(verdict)


def path(index_dir: Path) -> Path:
    return tuning_dir(index_dir) / JUDGEMENTS


def count(index_dir: Path) -> int:
    try:
        with open(path(index_dir), "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def append(index_dir: Path, judgement: Judgement, limit: int) -> int:
    """Add a judgement (stamped now); how many the index then holds. Refused past
    `limit`: judgements cost disk, and a service takes them from anyone it serves."""
    stamped = Judgement(**{**judgement.__dict__, "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")})
    line = json.dumps(stamped.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
    target = path(index_dir)
    with _writing:
        held = count(index_dir)
        if held >= limit:
            raise UsageError(
                f"{target}: holds {held:,} judgements, the most an index keeps; run `retriever tune`, then remove the file to start again"
            )
        try:
            target.parent.mkdir(exist_ok=True)
            # One write of one line, appended: a reader sees whole lines.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            with open(fd, "w", encoding="utf-8") as f:
                f.write(line)
        except OSError as e:
            raise StorageError(target, "the judgements", e) from None
    return held + 1


def read(index_dir: Path) -> tuple[list[Judgement], int]:
    """The index's judgements, one for each question and passage, the latest (a button
    pressed twice, or a verdict changed, is one judgement); and how many lines were not
    one (skipped)."""
    latest: dict[tuple, Judgement] = {}
    bad = 0
    try:
        with open(path(index_dir), encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    judgement = Judgement.from_dict(json.loads(line))
                    p = judgement.passage
                    key = (" ".join(judgement.question.split()), p.get("doc_id"), p.get("start"), p.get("end"))
                    latest.pop(key, None)  # in the order of the latest
                    latest[key] = judgement
                except (ValueError, KeyError, TypeError, AttributeError):
                    bad += 1
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StorageError(path(index_dir), "the judgements", e) from None
    return list(latest.values()), bad
