"""What the fault tests measured, kept in test-artifacts/reliability.json for the tables
in docs/reliability.md (and ``make soak``)."""

import json

from tests.workers import ROOT

ARTIFACT = ROOT / "test-artifacts" / "reliability.json"


def report_figures(scenario: str, **measured: int) -> None:
    """Keep what a scenario measured, replacing that scenario's previous figures."""
    ARTIFACT.parent.mkdir(exist_ok=True)
    figures = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
    figures[scenario] = measured
    ARTIFACT.write_text(json.dumps(figures, indent=2))
