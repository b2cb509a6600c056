"""Benchmarks of retriever: retrieval quality, summary quality, speed. See benchmarks/run.py."""
