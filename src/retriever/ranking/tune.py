"""`retriever tune`: refit the ranker on an index's judgements, and keep the refit only
if it ranks the judged passages better than the ranker in use.

The refit starts from the shipped ranker and keeps what it learned from its training
questions: their loss is replaced by its second-order expansion around the shipped
weights (the ranker's `precision`, times how many questions it learned from), so the
judgements move the weights only as far as they outweigh that evidence. Each judgement
counts as TuneConfig.judgement_weight training questions.

Cross-validation by question (all judgements of one question in one fold): each fold's
judgements are ranked by the ranker in use and by a refit on the other folds. A "good"
judgement scores 1/rank of its passage, a "bad" one 1 - 1/rank: the refit is installed
only if its mean is higher. The ranker it replaces is kept; `retriever tune --undo`
puts it back.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retriever.atomic import write_text
from retriever.config import TuneConfig
from retriever.errors import StorageError, UsageError, counted
from retriever.ranking import store
from retriever.ranking.judgements import Judgement, read
from retriever.ranking.model import Ranker, fit


@dataclass(frozen=True)
class TuneReport:
    judgements: int
    questions: int
    good: int
    bad: int
    skipped: int  # lines of the judgements file that were not one
    before: float  # cross-validated agreement of the ranker in use (0-1)
    after: float  # of the refit
    using: str  # the ranker in use before: "shipped" or "tuned"
    installed: bool
    message: str

    def to_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def agreement(ranker: Ranker, judgement: Judgement) -> float:
    """1/rank of a good judgement's passage under `ranker`; 1 - 1/rank of a bad one's."""
    group = judgement.group()
    scores = ranker.scores(group.signals, group.kinds)
    rank = 1 + int(np.sum(scores > scores[judgement.judged]))
    return 1.0 / rank if judgement.verdict == "good" else 1.0 - 1.0 / rank


def refit(judgements: list[Judgement], config: TuneConfig = TuneConfig()) -> Ranker:
    """The shipped ranker refitted on `judgements` (see the module's docstring)."""
    shipped = store.shipped()
    if shipped.precision is None:
        raise UsageError(f"{store.SHIPPED}: the shipped ranker carries no precision to refit from")
    trained_on = sum(shipped.about.get("questions", {}).values()) or 1
    weight = config.judgement_weight * len(judgements)
    about = {
        "tuned": True,
        "judgements": len(judgements),
        "judgement_weight": config.judgement_weight,
        "from": {k: shipped.about.get(k) for k in ("trained", "commit", "questions")},
    }
    return fit(
        [j.group() for j in judgements],
        shipped.terms,
        shipped.depth,
        prior=shipped,
        precision=shipped.precision * trained_on / weight,
        about=about,
    )


def _fold(judgement: Judgement, folds: int) -> int:
    return zlib.crc32(judgement.question.encode("utf-8")) % folds


def tune(index_dir: Path, config: TuneConfig = TuneConfig()) -> TuneReport:
    judgements, skipped = read(index_dir)
    questions = {j.question for j in judgements}
    good = sum(j.verdict == "good" for j in judgements)
    current, using = store.ranker_for(index_dir)
    counts = dict(judgements=len(judgements), questions=len(questions), good=good, bad=len(judgements) - good, skipped=skipped)
    if len(judgements) < config.min_judgements or len(questions) < config.folds:
        raise UsageError(
            f"{index_dir}: {counted(len(judgements), 'judgement')} on {counted(len(questions), 'question')}; "
            f"tuning needs at least {config.min_judgements} on {config.folds} questions to tell a better ranker from "
            "chance. Judge results on the search page, with POST /api/judge, `retriever judge` or Retriever.judge()"
        )
    before, after = [], []
    for k in range(config.folds):
        held = [j for j in judgements if _fold(j, config.folds) == k]
        rest = [j for j in judgements if _fold(j, config.folds) != k]
        if not held or not rest:
            continue
        candidate = refit(rest, config)
        before += [agreement(current, j) for j in held]
        after += [agreement(candidate, j) for j in held]
    b, a = float(np.mean(before)), float(np.mean(after))
    if a <= b:
        return TuneReport(
            **counts, before=b, after=a, using=using, installed=False,
            message=f"kept the {using} ranker: a refit on the judgements ranks them no better in cross-validation",
        )  # fmt: skip
    _install(index_dir, refit(judgements, config))
    return TuneReport(
        **counts, before=b, after=a, using=using, installed=True,
        message=f"installed the refit ranker; the {using} one is kept (`retriever tune --undo` goes back to it)",
    )  # fmt: skip


def _install(index_dir: Path, ranker: Ranker) -> None:
    folder = store.tuning_dir(index_dir)
    installed, previous = folder / store.INSTALLED, folder / store.PREVIOUS
    try:
        folder.mkdir(exist_ok=True)
        if installed.is_file():
            installed.replace(previous)
        else:
            previous.unlink(missing_ok=True)  # back to the shipped one is what undo then does
        write_text(installed, ranker.to_json())
    except OSError as e:
        raise StorageError(installed, "the ranker", e) from None


def undo(index_dir: Path) -> str:
    """Go back to the ranker the last tune replaced; what the index ranks with now."""
    folder = store.tuning_dir(index_dir)
    installed, previous = folder / store.INSTALLED, folder / store.PREVIOUS
    try:
        if previous.is_file():
            previous.replace(installed)
            return "the ranker an earlier `retriever tune` installed"
        if installed.is_file():
            installed.unlink()
            return "the shipped ranker"
    except OSError as e:
        raise StorageError(installed, "the ranker", e) from None
    raise UsageError(f"{index_dir}: ranks with the shipped ranker already; nothing to undo")
