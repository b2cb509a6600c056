"""The README's map of the code ("How the code is laid out") matches the tree: every
package and top-level module is on it, and everything on it exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "retriever"


def mapped() -> dict[str, set[str]]:
    """What the README's table names: each first-column name (a package `x/` or a
    module `x`) with the module names the second column gives in backquotes."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### How the code is laid out", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    out: dict[str, set[str]] = {}
    for row in rows:
        first, second = row.split("|")[1:3]
        for name in re.findall(r"`([^`]+)`", first):
            out[name] = set(re.findall(r"`([a-z_0-9]+(?:\.html)?)`", second))
    return out


def test_every_package_and_module_is_on_the_map_and_nothing_else():
    names = mapped()
    tree = {f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    tree |= {p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert set(names) == tree


def test_the_modules_named_in_a_package_are_its_own():
    for name, modules in mapped().items():
        if name.endswith("/"):
            folder = PACKAGE / name
            have = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")} | {p.name for p in folder.glob("*.html")}
            assert modules <= have, (name, modules - have)
            assert have <= modules, (name, have - modules)
