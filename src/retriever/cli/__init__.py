"""The `retriever` command: its commands apart from how they render on a terminal."""
