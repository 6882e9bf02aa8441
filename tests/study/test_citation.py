"""Every study citation quotes the paper's tables exactly (transcribed in paper_tables.yaml)."""

from pathlib import Path

import pytest
import yaml

from patchswap.errors import ConfigError
from patchswap.recipes import configs_dir
from patchswap.study import load_plan
from patchswap.study.citation import parse_citation

TABLES = yaml.safe_load((Path(__file__).parent / "paper_tables.yaml").read_text())
PLANS = sorted((configs_dir() / "studies").glob("*.yaml"))


def printed(entry: dict) -> float:
    """A transcribed value; Table 1's gap is the difference of the two accuracies it gives."""
    value = str(entry["value"])
    if " - " in value:
        train, test = value.split(" - ")
        return round(float(train) - float(test), 2)
    return float(value)


def cell(citation, label: str) -> dict:
    matches = [
        e
        for e in TABLES
        if e["table"] == citation.table
        and e["dataset"] == citation.dataset
        and e["architecture"] == citation.architecture
        and e.get("row") == citation.row
        and e["label"] == label
    ]
    assert len(matches) == 1, (citation, label)
    return matches[0]


def shipped_citations():
    for path in PLANS:
        for claim in load_plan(path, Path("unused")).claims:
            if claim.citation is not None:
                yield pytest.param(claim.citation, id=f"{path.stem}: {claim.claim}")


@pytest.mark.parametrize("citation", list(shipped_citations()))
def test_every_citation_quotes_the_paper_exactly(citation):
    if citation.delta is None:  # a figure without printed values
        assert citation.figure is not None and citation.table is None
        return
    baseline, method = cell(citation, citation.baseline), cell(citation, citation.method)
    assert citation.baseline_value == pytest.approx(printed(baseline), abs=1e-9)
    assert citation.method_value == pytest.approx(printed(method), abs=1e-9)
    assert citation.delta == pytest.approx(citation.method_value - citation.baseline_value)
    if " - " not in str(baseline["value"]):  # printed as the paper prints it, trailing zeros too
        assert citation.baseline_text == str(baseline["value"]) or float(
            citation.baseline_text
        ) == float(baseline["value"])
    assert f"{citation.delta:+.2f}" in citation.text()


def test_the_six_misquotes_are_gone():
    quoted = {p.values[0].text() for p in shipped_citations()}
    for wrong in ("4.1", "+2.6", "+1.5", "ResNet18): Hard Label 10"):
        assert not any(wrong in q for q in quoted), wrong
    safety = load_plan(configs_dir() / "studies" / "safety.yaml", Path("unused"))
    ece = next(c for c in safety.claims if c.metric == "ece").citation
    assert (ece.table, ece.architecture, ece.baseline_value, ece.method_value) == (
        10,
        "ResNet50",
        10.6,
        7.57,
    )
    gap = next(c for c in safety.claims if c.metric == "gap").citation
    assert (gap.table, gap.baseline) == (1, "No Swap")
    ablations = load_plan(configs_dir() / "studies" / "ablations.yaml", Path("unused"))
    assert ablations.claims[0].citation.figure == 10
    adaptive = load_plan(configs_dir() / "studies" / "adaptive.yaml", Path("unused"))
    assert "section 6" in adaptive.claims[0].note


BAD = [
    ({"table": 16, "dataset": "x", "architecture": "y"}, "the paper has no table 16"),
    ({"figure": 11, "dataset": "x", "architecture": "y"}, "the paper has no figure 11"),
    ({"table": 3, "figure": 2, "dataset": "x", "architecture": "y"}, "exactly one of table"),
    ({"table": 3, "dataset": "x"}, "names its dataset and architecture"),
    ({"table": 3, "dataset": "x", "architecture": "y", "method_value": 1}, "give both"),
    (
        {"table": 3, "dataset": "x", "architecture": "y", "baseline_value": "a", "method_value": 1},
        "must be a number",
    ),  # fmt: skip
    ({"section": 9}, "no section 9"),
    ({"section": "x.1"}, "no section 'x.1'"),
    ({"table": 3, "dataset": "x", "architecture": "y", "delta": 2}, "key 'delta' unknown"),
]


@pytest.mark.parametrize(("entry", "message"), BAD)
def test_a_bad_citation_is_one_line(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_citation(entry, "plan x")
