"""A learned ranker: a linear score over the candidates' signals, fitted listwise.

score(candidate) = Σ weight_t · (term_t - mean_t) / scale_t, where a term is a signal
(features.SIGNALS) or a signal times a kind of question (`short*bm25`). Fitted by
minimizing, over training questions, the cross-entropy between the softmax of the
scores over a question's candidates and its relevant passages (ListNet with one list per
question), plus an L2 penalty pulling the weights towards `prior` (zero, or the weights
of the ranker being refitted). The loss is convex in the weights; Newton's method
reaches its minimum in a few dozen steps with numpy alone, so `retriever tune` needs no
machine-learning library. Linear, each signal's share of a score is its term times its
weight, which is what `ask --explain` shows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retriever.errors import UsageError
from retriever.ranking.features import KINDS, SIGNALS

FORMAT = 1


@dataclass(frozen=True)
class Group:
    """One training question: its candidates' signals, its kind, which are relevant."""

    signals: np.ndarray  # (candidates, SIGNALS)
    kinds: dict[str, float]
    relevant: np.ndarray  # bool (candidates,)
    weight: float = 1.0  # how much the question counts in the loss


def _parse(term: str) -> tuple[int, str | None]:
    kind, _, signal = term.rpartition("*")
    if signal not in SIGNALS or (kind and kind not in KINDS):
        raise UsageError(f"unknown ranker term {term!r}: signals are {', '.join(SIGNALS)}; kinds {', '.join(KINDS)}")
    return SIGNALS.index(signal), kind or None


def expand(terms: Sequence[str], signals: np.ndarray, kinds: dict[str, float]) -> np.ndarray:
    """The ranker's terms for each candidate: signal columns, some times a kind."""
    out = np.empty((len(signals), len(terms)), dtype=np.float64)
    for j, term in enumerate(terms):
        col, kind = _parse(term)
        out[:, j] = signals[:, col] * (kinds[kind] if kind else 1.0)
    return out


@dataclass(frozen=True)
class Ranker:
    terms: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    depth: int  # how many of the hand-set blend's best candidates it reorders
    # The curvature of its training loss at its weights (per training question, in
    # standardized units): how firmly the training data holds each weight. A refit on a
    # user's judgements (tune.py) pays this much for moving away from it.
    precision: np.ndarray | None = field(default=None, compare=False)
    about: dict = field(default_factory=dict, compare=False)  # what it was trained on, and how it did

    def scores(self, signals: np.ndarray, kinds: dict[str, float]) -> np.ndarray:
        return ((expand(self.terms, signals, kinds) - self.mean) / self.scale) @ self.weights

    def contributions(self, signals: np.ndarray, kinds: dict[str, float]) -> np.ndarray:
        """Each term's share of each candidate's score: (candidates, terms)."""
        return (expand(self.terms, signals, kinds) - self.mean) / self.scale * self.weights

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "kind": "linear-listwise",
            "depth": self.depth,
            "terms": list(self.terms),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "weights": [round(float(v), 6) for v in self.weights],
            **({} if self.precision is None else {"precision": [[round(float(v), 6) for v in row] for row in self.precision]}),
            "about": self.about,
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "ranker") -> Ranker:
        if d.get("format") != FORMAT or d.get("kind") != "linear-listwise":
            raise UsageError(f"{source}: not a ranker this version reads (format {d.get('format')!r}, kind {d.get('kind')!r})")
        terms = tuple(d["terms"])
        for term in terms:
            _parse(term)
        arrays = [np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
        if any(a.shape != (len(terms),) for a in arrays) or not np.all(arrays[1] > 0):
            raise UsageError(f"{source}: its mean, scale and weights do not match its {len(terms)} terms")
        mean, scale, weights = arrays
        precision = d.get("precision")
        if precision is not None:
            precision = np.asarray(precision, dtype=np.float64)
            if precision.shape != (len(terms), len(terms)):
                raise UsageError(f"{source}: its precision does not match its {len(terms)} terms")
        return cls(terms, mean, scale, weights, int(d["depth"]), precision, d.get("about", {}))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n"

    def save(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Ranker:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: cannot read the ranker ({e})") from e
        return cls.from_dict(data, str(path))


def fit(
    groups: Sequence[Group],
    terms: Sequence[str],
    depth: int,
    l2: float = 0.0,
    prior: Ranker | None = None,
    precision: np.ndarray | None = None,
    about: dict | None = None,
) -> Ranker:
    """The ranker minimizing the listwise loss over `groups` (those with a relevant
    candidate among several, their weights summing to one) plus a pull towards the
    prior's weights: l2·|w - w0|² + ½·(w - w0)ᵀ·precision·(w - w0), in standardized
    units (`precision` only with a prior of the same terms)."""
    used = [g for g in groups if g.relevant.any() and len(g.relevant) > 1]
    if not used:
        raise UsageError("no training question has a relevant passage among several candidates")
    xs = [expand(terms, g.signals, g.kinds) for g in used]
    same_terms = prior is not None and tuple(prior.terms) == tuple(terms)
    if prior is not None and same_terms:
        mean, scale = prior.mean, prior.scale
    else:
        stacked = np.concatenate(xs)
        mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
    # The prior's weights in this standardization (a term it lacks weighs nothing): the
    # mean of a term shifts every candidate of a question alike and changes no order.
    raw = {} if prior is None else dict(zip(prior.terms, prior.weights / prior.scale))
    w0 = np.array([raw.get(t, 0.0) for t in terms]) * scale
    pull = 2 * l2 * np.eye(len(terms))
    if precision is not None:
        if not same_terms:
            raise ValueError("a precision needs a prior of the same terms")
        pull = pull + precision
    xs = [(x - mean) / scale for x in xs]
    targets = [g.relevant / g.relevant.sum() for g in used]
    weights = np.array([g.weight for g in used], dtype=np.float64)
    weights /= weights.sum()

    def objective(w: np.ndarray, second: bool) -> tuple[float, np.ndarray, np.ndarray]:
        loss = 0.5 * float((w - w0) @ pull @ (w - w0))
        grad = pull @ (w - w0)
        hess = pull.copy()
        for x, t, gw in zip(xs, targets, weights):
            s = x @ w
            p = np.exp(s - s.max())
            total = p.sum()
            p /= total
            loss -= gw * float(t @ (s - s.max() - np.log(total)))
            mean_x = p @ x
            grad += gw * (mean_x - t @ x)
            if second:
                hess += gw * ((x * p[:, None]).T @ x - np.outer(mean_x, mean_x))
        return loss, grad, hess

    # Newton's method with backtracking: a full step can overshoot where the softmax
    # is nearly flat.
    w = w0.copy()
    loss, grad, hess = objective(w, True)
    for _ in range(100):
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        size = 1.0
        while True:
            trial = w - size * step
            trial_loss = objective(trial, False)[0]
            if trial_loss <= loss - 1e-4 * size * float(grad @ step) or size < 1e-6:
                break
            size /= 2
        converged = loss - trial_loss < 1e-10
        w = trial
        loss, grad, hess = objective(w, True)
        if converged:
            break
    return Ranker(tuple(terms), mean, scale, w, depth, hess, about or {})


def train(groups: Sequence[Group], terms: Sequence[str], depth: int, l2: float, about: dict | None = None) -> Ranker:
    """A ranker that starts from the hand-set blend: the blend's own weight fitted
    first, then every term with the l2 pull towards that (what the data does not show
    stays the blend's)."""
    blend_only = fit(groups, ["blend"], depth, l2=1e-6)
    return fit(groups, terms, depth, l2=l2, prior=blend_only, about=about)


def listwise_loss(ranker: Ranker, groups: Sequence[Group]) -> float:
    """Mean cross-entropy of the ranker's softmax against the relevant passages."""
    losses = []
    for g in groups:
        if not g.relevant.any():
            continue
        s = ranker.scores(g.signals, g.kinds)
        log_p = s - s.max() - np.log(np.exp(s - s.max()).sum())
        losses.append(-(g.relevant / g.relevant.sum()) @ log_p)
    return float(np.mean(losses)) if losses else float("nan")
