"""Bytes to a cleaned document: one module per file format, the walk over a folder, and
reading in a bounded worker process."""
