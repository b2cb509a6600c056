"""retriever: semantic retrieval and extractive summaries for Chinese documents.

    from retriever import Retriever
    answer = Retriever.open().ask("如何化解矛盾纠纷")
"""

from .api import Answer, BuildReport, DocumentSummary, Retriever, summarize_files, summarize_text
from .config import BadIndexError, InputError, RetrieverError, UsageError
from .search import Hit
from .segment import Passage
from .summarize import Summary, SummarySentence

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "BadIndexError",
    "BuildReport",
    "DocumentSummary",
    "Hit",
    "InputError",
    "Passage",
    "Retriever",
    "RetrieverError",
    "Summary",
    "SummarySentence",
    "UsageError",
    "summarize_files",
    "summarize_text",
]
