"""The JSON the service answers, as its OpenAPI document describes it.

The answers themselves are built by the library (Answer.to_dict, DocumentSummary's
record, Retriever.info): these models only describe them, and the tests validate real
answers against them with unknown fields forbidden, so that the description cannot
drift from what is sent. Errors of every status are {"error": "…"}.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorResponse(_Strict):
    error: str = Field(description="What went wrong, in one line")


class SummarySentenceOut(_Strict):
    text: str = Field(description="The sentence, quoted from its passage or document")
    doc_id: str
    title: str
    heading_path: list[str] = Field(description="Its place in its document's outline")
    start: int = Field(description="Character offsets in the cleaned document")
    end: int
    cites: int | None = Field(description="The rank of the result it comes from (answers); null in document summaries")
    source: str
    shown: str = Field(description="The sentence as displayed (an ellipsis where it was cut)")


class SummaryOut(_Strict):
    text: str
    sentences: list[SummarySentenceOut]


class HitOut(_Strict):
    rank: int
    score: float = Field(
        description="What it means is the answer's `score`: in hybrid mode 0-1 for the ranker's candidates, below 0 past them"
    )
    doc_id: str
    title: str
    heading_path: list[str]
    text: str = Field(description="The passage")
    start: int = Field(description="Character offsets of the passage in the cleaned document")
    end: int
    date: str | None = Field(description="Its document's date: 2023-03-05, 2023-03 or 2023; null when unknown")
    issuer: str | None = Field(description="The bodies that issued its document, when it names them")
    passage_id: int
    scores: dict[str, float | None] = Field(
        description="The scores it was ranked by (dense cosine, BM25); null for a side the mode does not use"
    )
    highlights: list[tuple[int, int]] = Field(description="Spans of the question's words in `text`")
    explain: dict[str, float] | None = Field(
        None, description="With explain (hybrid mode): what each of the ranker's signals added to its score, largest first"
    )


class ScopeOut(_Strict):
    paths: list[str] | None = Field(None, alias="in", description="The folders and globs asked within")
    year: list[int] | None = None
    since: str | None = None
    until: str | None = None
    doc: list[str] | None = None
    documents: int = Field(description="How many documents are within")
    passages: int = Field(description="How many passages they hold")
    undated: int = Field(description="Documents a date filter left out for lacking a date")


class AskResponse(_Strict):
    query: str
    mode: str
    answered: bool | None = Field(description="Whether the index seems to answer the question; null when not judged")
    confidence: float | None = Field(description="0-1: how likely the best passage answers")
    reason: str | None = Field(None, description="Why the question seems not answered (only then)")
    reason_code: Literal["no_words", "no_match", "below_threshold"] | None = Field(
        None, description="The same reason for programs: no words to search for, no passage matches, or none close enough"
    )
    score: str = Field(description="What each result's score means in this mode")
    ranker: Literal["shipped", "tuned"] | None = Field(
        None, description="Hybrid mode: the ranker shipped with retriever, or the index's own (`retriever tune`)"
    )
    results: list[HitOut]
    summary: SummaryOut
    index: str
    model: str
    timings_ms: dict[str, float]
    scope: ScopeOut | None = Field(None, description="The documents asked within, when the question was scoped")


class JudgeResponse(_Strict):
    question: str
    passage_id: int
    verdict: Literal["good", "bad"]
    judgements: int = Field(description="How many judgements the index now holds")


class OutlineEntry(_Strict):
    level: int = Field(description="Its depth in the outline: 1 the top level")
    title: str
    start: int = Field(description="Where it begins in the cleaned text")


class SummarizeResponse(_Strict):
    path: str
    title: str
    chars: int
    date: str | None = Field(description="The document's date: 2023-03-05, 2023-03 or 2023; null when it names none")
    issuer: str | None = Field(description="The bodies that issued it, when it names them")
    summary: str
    sentences: list[SummarySentenceOut]
    outline: list[OutlineEntry]
    keywords: list[str]
    query: str | None = Field(None, description="The question the summary leans towards, when one was given")
    notes: list[str] = Field([], description="What the reader or the summarizer noticed (left-out pages, no sentences…)")


class HealthResponse(_Strict):
    status: str
    index: str
    generation: str
    documents: int
    passages: int
    model: str
    backend: str
    loaded_at: str
    uptime_s: float
    reload_error: str | None = Field(description="Why the last update of the index could not be loaded, if it could not")


class InfoResponse(BaseModel):
    """Retriever.info(): its parts are described loosely, as they grow with the index format."""

    index: str
    model: dict[str, Any]
    corpus: dict[str, Any]
    documents: list[dict[str, Any]]
    bytes: int
    vector_store: dict[str, Any]
    format_version: int
    versions: dict[str, str]
    created: str
    updated: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: each status it may answer with, all as ErrorResponse."""
    meaning = {
        400: "A bad request: a field out of range, an unknown mode, a question without words",
        403: "A cross-site request, refused",
        408: "The request's body came too slowly",
        409: "The result judged is no longer the index's: it was indexed again since",
        413: "The body or the text is too large",
        415: "Neither JSON nor an upload",
        421: "A Host this service does not answer to",
        422: "A field of the wrong type or over its length, or a file that cannot be read as a document",
        499: "The client went away; nobody reads this",
        500: "An internal error; the server's log has the details",
        503: "The index cannot be loaded, or the service is stopping",
    }
    return {status: {"model": ErrorResponse, "description": meaning[status]} for status in statuses}
