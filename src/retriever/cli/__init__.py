"""The `retriever` command: its commands apart from how they render on a terminal."""


def main() -> None:
    """The command's entry point (pyproject.toml names it): the commands are imported
    only when the command runs."""
    from retriever.cli.commands import main as run

    run()
