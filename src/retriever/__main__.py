"""`python -m retriever`: the same as the `retriever` command."""

from retriever.cli.commands import main

main()
