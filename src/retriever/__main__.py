"""`python -m retriever`: the same as the `retriever` command."""

from .cli import main

main()
