"""Pre-registration is recorded, not asserted: a confirmatory plan runs only committed, and
its cells never mix two versions of it."""

import json
import re
import subprocess

import pytest

from patchswap.errors import ConfigError
from patchswap.study.registration import blob_hash, current, from_history, register

PLAN = "title: t\nseeds: [0]\ngroups: []\n"


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    return repo


def test_an_uncommitted_confirmatory_plan_is_refused_in_one_line(repo):
    plan = repo / "p.yaml"
    plan.write_text(PLAN)
    with pytest.raises(ConfigError, match=re.escape("is not committed: a confirmatory plan")):
        current(plan, "confirmatory")
    git(repo, "add", "p.yaml")
    git(repo, "commit", "-qm", "plan")
    plan.write_text(PLAN + "# edited\n")
    with pytest.raises(ConfigError, match="changed since its last commit.*kind: exploratory"):
        current(plan, "confirmatory")
    assert current(plan, "exploratory").recorded_by == "uncommitted"


def test_a_committed_plan_records_its_commit_blob_and_first_cell(repo, tmp_path):
    plan = repo / "p.yaml"
    plan.write_text(PLAN)
    git(repo, "add", "p.yaml")
    git(repo, "commit", "-qm", "plan")
    record = register(plan, "confirmatory", tmp_path / "cells")
    assert record.commit == git(repo, "rev-parse", "HEAD")
    assert record.blob == git(repo, "hash-object", "p.yaml") == blob_hash(plan)
    assert record.first_cell_started and record.committed_at
    saved = json.loads((tmp_path / "cells" / "registration.json").read_text())
    assert saved["commit"] == record.commit
    assert register(plan, "confirmatory", tmp_path / "cells") == record  # unchanged: same record
    assert record.commit[:10] in record.text()


def test_cells_started_under_another_version_of_the_plan_are_refused(repo, tmp_path):
    plan = repo / "p.yaml"
    plan.write_text(PLAN)
    git(repo, "add", "p.yaml")
    git(repo, "commit", "-qm", "plan")
    register(plan, "confirmatory", tmp_path / "cells")
    plan.write_text(PLAN.replace("[0]", "[0, 1]"))
    git(repo, "commit", "-qam", "more seeds after the start")
    with pytest.raises(ConfigError, match="under another version of p.yaml"):
        register(plan, "confirmatory", tmp_path / "cells")


def test_a_plan_outside_git_is_refused_unless_exploratory(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text(PLAN)
    with pytest.raises(ConfigError, match="not in a git repository"):
        current(plan, "confirmatory")
    assert current(plan, "exploratory").recorded_by == "uncommitted"


def test_pages_published_before_registration_cite_the_plans_first_commit(repo):
    plan = repo / "p.yaml"
    plan.write_text(PLAN)
    git(repo, "add", "p.yaml")
    git(repo, "commit", "-qm", "first")
    first = git(repo, "rev-parse", "HEAD")
    plan.write_text(PLAN + "# later\n")
    git(repo, "commit", "-qam", "second")
    record = from_history(plan)
    assert record.commit == first and "not recorded at run time" in record.text()


def test_a_packaged_plan_inside_a_users_repository_is_recorded_as_the_package(repo, monkeypatch):
    from patchswap import recipes

    site = repo / ".venv" / "patchswap" / "configs" / "studies"  # pip install into the repo
    site.mkdir(parents=True)
    plan = site / "confirm.yaml"
    plan.write_text(PLAN)
    monkeypatch.setattr(recipes, "packaged_configs", lambda: site.parent)
    record = current(plan, "confirmatory")
    assert record.recorded_by.startswith("package patchswap ") and record.blob == blob_hash(plan)
