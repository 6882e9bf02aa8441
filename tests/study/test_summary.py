"""One source for every study number a visitor reads: docs/study/README.md and the root
README's study block are generated from the pages' results.json, and match them."""

import json
import re
from pathlib import Path

from patchswap.study.summary import (
    README_END,
    README_START,
    load_pages,
    readme_block,
    write_summary,
)

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "study"


def test_the_root_readme_study_block_is_the_generated_one(tmp_path):
    pages = load_pages(DOCS, tmp_path)
    readme = (REPO / "README.md").read_text()
    start, end = readme.index(README_START), readme.index(README_END) + len(README_END)
    assert readme[start:end] == readme_block(pages), "run `patchswap study --render`"
    outside = readme[:start] + readme[end:]
    # study figures live in the block only: no p-values or verdict counts typed by hand
    assert not re.search(r"\bp [<=]? ?0\.\d|\d+ (holds?|do(es)? not hold)\b", outside)


def test_the_study_summary_page_is_the_generated_one(tmp_path):
    pages = load_pages(DOCS, tmp_path)
    written = write_summary(pages, tmp_path)
    assert written.read_text() == (DOCS / "README.md").read_text(), "run `patchswap study --render`"
    text = written.read_text()
    claims = sum(len(p.claims) for p in pages)
    assert f"{claims} claims in {len(pages)} plans" in text
    assert text.count("| exploratory: ") + text.count("| confirmatory: ") >= claims


def test_every_published_page_states_its_registration_and_what_its_seeds_varied():
    for page in DOCS.glob("*/README.md"):
        text = page.read_text()
        assert "Pre-registration: " in text and "each seed draws " in text, page
        assert "Holm p (family)" in text and "detectable Δ (80%, α/m)" in text, page
        assert "fixed in the plan before the run" not in text, page  # the old asserted sentence


def test_a_page_whose_plan_changed_its_seeds_is_skipped_with_one_line(tmp_path):
    docs = tmp_path / "study"
    (docs / "noise").mkdir(parents=True)
    record = json.loads((DOCS / "noise" / "results.json").read_text())
    record["seeds"] = [5, 6, 7]
    (docs / "noise" / "results.json").write_text(json.dumps(record))
    said = []
    assert load_pages(docs, tmp_path, said.append) == []
    assert len(said) == 1 and "seeds [5, 6, 7]" in said[0] and "skipped" in said[0]


def test_every_study_figure_in_the_root_readme_prose_is_the_generated_one():
    """The hand-written sentences above the generated block quote the study's Δs and CIs: each
    signed figure there must stand in the generated summary (a re-run changes both or fails)."""
    readme = (REPO / "README.md").read_text()
    prose = readme[readme.index("## Where it helps") : readme.index("<!-- study summary")]
    summary = (REPO / "docs" / "study" / "README.md").read_text()
    figures = re.findall(r"(?<![\w.])[+±-]\d+\.\d+", prose)
    assert len(figures) >= 10
    missing = [f for f in figures if f not in summary]
    assert not missing, f"README figures not in docs/study/README.md: {missing}"
