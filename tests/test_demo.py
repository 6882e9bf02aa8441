"""`patchswap demo` end to end on the miniature Fashion-MNIST."""

from patchswap.cli import main


def test_demo_trains_both_and_writes_table_and_plot(capsys, tiny_run, tmp_path):
    sets = [a for o in tiny_run("epochs=2", "data.samples_per_class=null") for a in ("--set", o)]
    assert main(["demo", "--output-dir", str(tmp_path / "demo"), *sets]) == 0
    out = capsys.readouterr().out
    assert "| hard_label |" in out and "| patchswap |" in out
    (folder,) = (tmp_path / "demo").iterdir()
    assert (folder / "accuracy.png").stat().st_size > 1000
    assert (folder / "results.md").read_text().count("\n") == 4
    for method in ("hard_label", "patchswap"):
        assert (folder / method / "summary.json").is_file()
