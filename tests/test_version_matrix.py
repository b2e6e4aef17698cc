"""The versions taskhub claims are the versions it tests: the tutorial's table, nox's cells
(``noxfile.py``), ``.venv``'s pins and ``pyproject.toml``'s lower bounds say the same;
and the changelog speaks of the version the package says it is."""

import re
import sys
import tomllib
from pathlib import Path

import django

import noxfile
import taskhub

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text()
#: What ``make test`` runs first, in ``.venv``: not a nox cell.
MAIN_CELL = ("3.11", "5.2", "`make test`: the whole suite")


def table_rows() -> set[tuple[str, ...]]:
    table = TUTORIAL.split("<!-- matrix -->", 1)[1].split("\n\n", 1)[0]
    lines = table.strip().splitlines()[2:]
    return {tuple(c.strip() for c in line.strip("|").split("|")) for line in lines}


def nox_rows() -> set[tuple[str, ...]]:
    rows = {MAIN_CELL}
    for cell in noxfile.CELLS:
        rows.add((*cell, "`make test`" if cell in noxfile.FAST else "`make matrix`"))
    return rows


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line:
            name, version = line.split("==")
            found[name.split("[")[0].lower()] = version
    return found


def test_the_tutorials_table_is_nox_cells_and_the_main_run():
    assert table_rows() == nox_rows()


def test_the_run_testing_this_is_in_the_table():
    """``.venv``'s run or one of nox's cells, with the pinned Django on 3.11."""
    here = (
        f"{sys.version_info.major}.{sys.version_info.minor}",
        f"{django.VERSION[0]}.{django.VERSION[1]}",
    )
    assert here in {row[:2] for row in table_rows()}
    if here == MAIN_CELL[:2]:
        assert django.get_version() == pins()["django"] == noxfile.DJANGO["5.2"]


def test_pyproject_claims_what_the_cells_test():
    """Every cell has requirements.txt's Celery and kombu: the lowest claimed is the
    newest (5.6 and 5.5 lack the kombu internals taskhub's Redis transport builds on)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = dict(re.fullmatch(r"([\w-]+)>=(\S+)", d).groups() for d in project["dependencies"])
    assert bounds["celery"] == pins()["celery"]
    assert bounds["kombu"] == pins()["kombu"]
    assert bounds["Django"] == "5.2" == min(noxfile.DJANGO)
    assert project["requires-python"] == f">={MAIN_CELL[0]}"
    classifiers = {c.rsplit(" :: ", 1)[1] for c in project["classifiers"] if "Django ::" in c}
    assert classifiers == set(noxfile.DJANGO)


def test_the_changelog_keeps_a_changelog_for_the_version_to_release():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    unreleased = changelog.split("## [Unreleased]", 1)[1].split("\n## [", 1)[0]
    assert f"released as {taskhub.__version__}:" in unreleased
    kinds = re.findall(r"^### (.+)$", unreleased, re.MULTILINE)
    assert kinds and set(kinds) <= {
        "Added",
        "Changed",
        "Deprecated",
        "Removed",
        "Fixed",
        "Security",
    }
