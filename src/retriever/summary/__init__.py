"""Extractive summaries: the sentences chosen for a question or a document, keywords,
document records and the files they are written to."""
