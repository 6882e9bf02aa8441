"""A plan that outlives a session: its finished cells saved without checkpoints, restored on a
fresh machine, and the study goes on without training them again."""

import json
import shutil

from patchswap.cli import main
from patchswap.study import load_plan, run_study


def test_saved_cells_restore_into_a_fresh_folder_and_are_not_trained_again(plan_file, tmp_path):
    path = plan_file()
    runs, docs = tmp_path / "runs", tmp_path / "docs"
    plan = load_plan(path, runs)
    page = run_study(plan, docs, quiet=True, say=lambda _: None)
    before = (page.parent / "results.json").read_text()
    saved = tmp_path / "saved"
    assert main(["study", str(path), "--output-dir", str(runs), "--save-cells", str(saved)]) == 0
    assert not list(saved.rglob("*.pt")) and (saved / "registration.json").is_file()
    assert len(list(saved.glob("*/*/summary.json"))) == 8

    shutil.rmtree(runs)  # a new machine: nothing but the saved records
    assert main(["study", str(path), "--output-dir", str(runs), "--restore-cells", str(saved)]) == 0
    said = []
    run_study(load_plan(path, runs), docs, quiet=True, say=said.append)
    assert sum("finished earlier" in line for line in said) == 8
    assert not any(": trained" in line for line in said)
    after = json.loads((page.parent / "results.json").read_text())
    expected = json.loads(before)
    assert after["groups"] == expected["groups"] and after["claims"] == expected["claims"]
    assert after["registration"] == expected["registration"]  # the first start, as recorded


def test_cells_of_another_version_of_the_plan_are_not_restored(plan_file, tmp_path):
    import pytest

    from patchswap.errors import ConfigError
    from patchswap.study.cells import restore_cells

    plan = load_plan(plan_file(), tmp_path / "runs")
    for folder, blob in ((plan.cells_dir, "a"), (tmp_path / "saved", "b")):
        folder.mkdir(parents=True)
        (folder / "registration.json").write_text(json.dumps({"blob": blob * 40}))
    with pytest.raises(ConfigError, match="two versions of tiny do not mix"):
        restore_cells(plan, tmp_path / "saved")


def test_restoring_from_a_missing_folder_is_one_line(plan_file, tmp_path, capsys):
    path = plan_file()
    argv = ["study", str(path), "--output-dir", str(tmp_path / "runs")]
    assert main([*argv, "--restore-cells", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and err.count("\n") == 1
