"""retriever: semantic retrieval and extractive summaries for Chinese documents.

    from retriever import Retriever
    answer = Retriever.open().ask("如何化解矛盾纠纷")

Names are imported on first use (PEP 562), so that `retriever --help` does not pay
for numpy, FAISS and the reading stack.
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING

_EXPORTS = {
    "Answer": "api",
    "BuildReport": "index.build",
    "DocumentSummary": "summary.documents",
    "Retriever": "api",
    "Scope": "index.scope",
    "summarize_files": "api",
    "summarize_text": "api",
    "BadIndexError": "errors",
    "ChangedIndex": "errors",
    "IndexBusy": "errors",
    "InputError": "errors",
    "RetrieverError": "errors",
    "StorageError": "errors",
    "TooMuchText": "errors",
    "UsageError": "errors",
    "Hit": "search",
    "Verdict": "search",
    "Selection": "index.scope",
    "Metadata": "text.metadata",
    "Passage": "text.segment",
    "Summary": "summary.extract",
    "SummarySentence": "summary.extract",
}

__all__ = [  # noqa: F822 - resolved by __getattr__ below
    "Answer",
    "BadIndexError",
    "BuildReport",
    "ChangedIndex",
    "DocumentSummary",
    "Hit",
    "IndexBusy",
    "InputError",
    "Metadata",
    "Passage",
    "Retriever",
    "RetrieverError",
    "Scope",
    "Selection",
    "StorageError",
    "Summary",
    "SummarySentence",
    "TooMuchText",
    "UsageError",
    "Verdict",
    "summarize_files",
    "summarize_text",
]


def __getattr__(name: str):
    if name == "__version__":  # written once, in pyproject.toml
        from importlib.metadata import version

        value = version("retriever-zh")
        globals()[name] = value
        return value
    if name not in _EXPORTS:
        raise AttributeError(f"module 'retriever' has no attribute {name!r}")
    value = getattr(_import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    # help(retriever) and editors list the API, imported on demand like any lookup.
    return sorted({*globals(), *__all__})


if _TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from retriever.api import Answer, Retriever, summarize_files, summarize_text
    from retriever.errors import (
        BadIndexError,
        ChangedIndex,
        IndexBusy,
        InputError,
        RetrieverError,
        StorageError,
        TooMuchText,
        UsageError,
    )
    from retriever.index.build import BuildReport
    from retriever.index.scope import Scope, Selection
    from retriever.search import Hit, Verdict
    from retriever.summary.documents import DocumentSummary
    from retriever.summary.extract import Summary, SummarySentence
    from retriever.text.metadata import Metadata
    from retriever.text.segment import Passage

    __version__: str
