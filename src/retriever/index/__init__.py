"""The index on disk: its manifest, generations, BM25, the vector stores (FAISS, Milvus),
and the build that reads, cuts and embeds a corpus into it."""
