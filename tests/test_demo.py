"""`patchswap demo` end to end on the miniature Fashion-MNIST."""

import math

from patchswap.cli import main


def test_demo_trains_both_and_writes_table_and_plot(capsys, tiny_run, tmp_path):
    options = tiny_run("epochs=2", "data.samples_per_class=null", "data.holdout_per_class=2")
    sets = [a for o in options for a in ("--set", o)]
    assert main(["demo", "--output-dir", str(tmp_path / "demo"), *sets]) == 0
    out = capsys.readouterr().out
    assert "| method | last top-1 | best top-1 | train top-1 | train-test gap | ECE x10^2 |" in out
    rows = [
        line for line in out.splitlines() if line.startswith(("| hard_label |", "| patchswap |"))
    ]
    assert len(rows) == 2
    for row in rows:  # every column measured: the temperature too, fitted on the held-out images
        values = [float(cell) for cell in row.strip("|").split("|")[1:]]
        assert len(values) == 7 and all(math.isfinite(v) for v in values)
        last, train, gap, temperature = values[0], values[2], values[3], values[5]
        assert abs(gap - (train - last)) < 0.02  # both rounded to 2 decimals
        assert temperature > 0
    (folder,) = (tmp_path / "demo").iterdir()
    assert (folder / "accuracy.png").stat().st_size > 1000
    text = (folder / "results.md").read_text()
    assert text.startswith("fashion_mnist, 40% noisy labels, all images, no augmentation, 2 epochs")
    assert text.count("\n") == 6  # what it compares, a blank line, the 4-line table
    for method in ("hard_label", "patchswap"):
        assert (folder / method / "summary.json").is_file()
        assert (folder / method / "evaluation-last" / "reliability.png").is_file()
