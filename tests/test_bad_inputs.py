"""Every bad input a user can give the command line: exit 2, one line, no traceback.

Table-driven: each case is (id, argv, words the message must hold). `{name}` in an argument is
a path prepared once for the module (a finished tiny run, files that are not checkpoints, a
plain file where a folder is expected). Data-file cases (tampered CIFAR, idx files) live with
the data tests, Python API cases in `tests/test_api_validation.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import fixtures_data
import pytest
import torch

from patchswap.cli import main


class _RunsCode:
    """A pickle payload: unpickling it would create the file `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad_inputs")
    data = fixtures_data.make_fashion_mnist_gz(root / "fmnist")
    tiny = [
        f"data.root={data}",
        "data.samples_per_class=null",
        "data.holdout_per_class=null",
        "model.kwargs={width: 4}",
        "epochs=1",
        "batch_size=8",
        "progress=false",
        f"output_dir={root / 'runs'}",
        "name=tiny",
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATCHSWAP_CACHE", str(root / "cache"))
        assert main(["train", "fashion_mnist/demo", *_sets(tiny), "--quiet"]) == 0
    run = root / "runs" / "tiny"
    files = {
        "tensor": root / "tensor.pt",
        "state_dict": root / "state_dict.pt",
        "text": root / "notes.pt",
        "empty": root / "empty.pt",
        "code": root / "code.pt",
        "file": root / "a_file",
    }
    torch.save(torch.zeros(3), files["tensor"])
    torch.save(torch.load(run / "best.pt", weights_only=True)["model"], files["state_dict"])
    files["text"].write_text("not a checkpoint\n")
    files["empty"].write_bytes(b"")
    torch.save({"config": {}, "model": _RunsCode(root / "code_ran")}, files["code"])
    files["file"].write_text("a file, not a folder\n")
    return {
        "run": str(run),
        "best": str(run / "best.pt"),
        "data": str(data),
        "marker": str(root / "code_ran"),
        "out": str(root / "out"),
        **{name: str(path) for name, path in files.items()},
    }


def _sets(overrides: list[str]) -> list[str]:
    return [arg for text in overrides for arg in ("--set", text)]


TRAIN = ["train", "fashion_mnist/demo"]

CASES = [
    # --- train: recipe, keys and values, checked before data or model are built
    ("no recipe", ["train"], ["train needs a RECIPE"]),
    ("unknown recipe", ["train", "no/such/recipe"], ["recipe 'no/such/recipe' not found"]),
    ("unknown key", [*TRAIN, "--set", "optim.lrr=0.1"], ["unknown key optim.lrr"]),
    ("override syntax", [*TRAIN, "--set", "optim.lr"], ["must look like key=value"]),
    ("string number", [*TRAIN, "--set", "optim.momentum=fast"], ["must be of type float"]),
    ("momentum 5", [*TRAIN, "--set", "optim.momentum=5"], ["optim.momentum=5.0", "[0, 1)"]),
    ("momentum -1", [*TRAIN, "--set", "optim.momentum=-1"], ["optim.momentum=-1.0"]),
    ("lr nan", [*TRAIN, "--set", "optim.lr=.nan"], ["optim.lr=nan", "finite"]),
    ("lr inf", [*TRAIN, "--set", "optim.lr=.inf"], ["optim.lr=inf", "finite"]),
    ("lr 0", [*TRAIN, "--set", "optim.lr=0"], ["optim.lr=0.0 must be > 0"]),
    ("weight decay", [*TRAIN, "--set", "optim.weight_decay=-1"], ["optim.weight_decay=-1.0"]),
    (
        "nesterov without momentum",
        [*TRAIN, "--set", "optim.nesterov=true", "--set", "optim.momentum=0"],
        ["optim.nesterov=true needs optim.momentum > 0"],
    ),
    ("temperature nan", [*TRAIN, "--set", "method.temperature=.nan"], ["method.temperature=nan"]),
    ("temperature 0", [*TRAIN, "--set", "method.temperature=0"], ["temperature=0"]),
    ("gamma inf", [*TRAIN, "--set", "method.gamma=.inf"], ["method.gamma=inf", "finite"]),
    ("alpha nan", [*TRAIN, "--set", "method.alpha=.nan"], ["method.alpha=nan", "finite"]),
    ("p_r 2", [*TRAIN, "--set", "method.p=2"], ["p=2"]),
    ("unknown method option", [*TRAIN, "--set", "method.gird=2"], ["unknown key method.gird"]),
    ("unknown method", [*TRAIN, "--set", "method=nope"], ["unknown method 'nope'"]),
    ("unknown model", [*TRAIN, "--set", "model.name=resnet9000"], ["unknown model"]),
    ("crop padding", [*TRAIN, "--set", "data.crop_padding=-1"], ["data.crop_padding=-1"]),
    ("workers", [*TRAIN, "--set", "data.num_workers=-1"], ["data.num_workers=-1"]),
    ("image size", [*TRAIN, "--set", "data.image_size=0"], ["data.image_size=0"]),
    ("noise rate", [*TRAIN, "--set", "data.label_noise.rate=1.5"], ["data.label_noise.rate=1.5"]),
    ("samples per class 0", [*TRAIN, "--set", "data.samples_per_class=0"], ["samples_per_class"]),
    (
        "samples per class above a class",
        [*TRAIN, "--set", "data.samples_per_class=7000"],
        ["data.samples_per_class=7000", "smallest class"],
    ),
    ("holdout 0", [*TRAIN, "--set", "data.holdout_per_class=0"], ["holdout_per_class=0"]),
    (
        "holdout above a class",
        [*TRAIN, "--set", "data.holdout_per_class=7000"],
        ["data.holdout_per_class=7000", "smallest class"],
    ),
    ("epochs 0", [*TRAIN, "--set", "epochs=0"], ["epochs=0 must be >= 1"]),
    ("batch 0", [*TRAIN, "--set", "batch_size=0"], ["batch_size=0 must be >= 1"]),
    ("eval every 0", [*TRAIN, "--set", "eval_every=0"], ["eval_every=0 must be >= 1"]),
    ("schedule", [*TRAIN, "--set", "schedule.name=step"], ["schedule.name='step' is unknown"]),
    ("lr decay 0", [*TRAIN, "--set", "schedule.gamma=0"], ["schedule.gamma=0.0 must be > 0"]),
    ("precision", [*TRAIN, "--set", "precision=fp8"], ["precision='fp8' is unknown"]),
    ("loader", [*TRAIN, "--set", "data.loader=fast"], ["data.loader='fast' is unknown"]),
    ("device", [*TRAIN, "--set", "device=tpu"], ["device='tpu'"]),
    ("missing data", [*TRAIN, "--set", "data.root={out}"], ["Fashion-MNIST not found"]),
    ("output_dir is a file", [*TRAIN, "--set", "output_dir={file}"], ["output_dir=", "{file}"]),
    # --- train --resume: only a last.pt of this trainer, in its own folder
    ("resume missing", ["train", "--resume", "{out}/nope"], ["does not exist"]),
    ("resume best.pt", ["train", "--resume", "{best}"], ["best.pt (weights only)", "last.pt"]),
    (
        "resume a tensor",
        ["train", "--resume", "{tensor}"],
        ["holds a Tensor", "will not be loaded"],
    ),
    ("resume a state_dict", ["train", "--resume", "{state_dict}"], ["holds a state_dict"]),
    ("resume a text file", ["train", "--resume", "{text}"], ["not a PyTorch checkpoint"]),
    ("resume finished", ["train", "--resume", "{run}"], ["already finished its 1 epochs"]),
    (
        "resume moved by --set",
        ["train", "--resume", "{run}", "--set", "name=elsewhere", "--set", "epochs=2"],
        ["cannot move a resumed run"],
    ),
    (
        "fresh run into a finished one",
        [*TRAIN, "--set", "output_dir={run}/..", "--set", "name=tiny"],
        ["already holds a run"],
    ),
    # --- eval / evaluate: checkpoints that are not ours are named and never loaded
    ("eval missing", ["eval", "missing.pt"], ["does not exist"]),
    ("eval a state_dict", ["eval", "{state_dict}"], ["holds a state_dict", "will not be loaded"]),
    ("eval a tensor", ["eval", "{tensor}"], ["holds a Tensor"]),
    ("eval a text file", ["eval", "{text}"], ["not a PyTorch checkpoint"]),
    ("eval an empty file", ["eval", "{empty}"], ["is empty"]),
    ("eval code", ["eval", "{code}"], ["asks to run Python code", "will not be loaded"]),
    ("eval a folder without run", ["eval", "{out}"], ["does not exist"]),
    ("evaluate --out is a file", ["evaluate", "{run}", "--out", "{file}"], ["--out=", "{file}"]),
    ("evaluate suite", ["evaluate", "{run}", "--suite", "speed"], ["speed"]),
    ("evaluate eps", ["evaluate", "{run}", "--eps", "2"], ["eps"]),
    # --- demo, compare, study: output folders checked before any training
    ("demo --output-dir is a file", ["demo", "--output-dir", "{file}"], ["--output-dir="]),
    (
        "compare --output-dir is a file",
        ["compare", "fashion_mnist/demo", "--output-dir", "{file}"],
        ["--output-dir=", "{file}"],
    ),
    ("compare seeds", ["compare", "fashion_mnist/demo", "--seeds", "1", "1"], ["distinct seeds"]),
    ("study unknown", ["study", "nope"], ["study plan 'nope' not found"]),
    ("study --docs-dir is a file", ["study", "noise", "--docs-dir", "{file}"], ["--docs-dir="]),
]


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(capsys, paths, patchswap_cache, argv, words):
    argv = [arg.format(**paths) for arg in argv]
    if argv[:2] == TRAIN and not any(a.startswith("output_dir=") for a in argv):
        argv += ["--set", f"output_dir={paths['out']}"]  # never write into the checkout
    if argv[:2] == TRAIN and not any(a.startswith("data.root=") for a in argv):
        argv += ["--set", f"data.root={paths['data']}"]
    if argv[:2] == TRAIN and not any(a.startswith("data.holdout_per_class=") for a in argv):
        argv += ["--set", "data.holdout_per_class=null"]  # the demo's 50 exceed the miniature
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("patchswap: error: ") and err.count("\n") == 1, err
    for word in words:
        assert word.format(**paths) in err, err
    assert "weights_only=False" not in err  # never advise the unsafe load
    assert not Path(paths["marker"]).exists(), "a checkpoint's code ran"


def test_the_table_leaves_the_finished_run_as_it_was(paths):
    """The resume, eval and fresh-run cases above never touched the run they were pointed at."""
    run = Path(paths["run"])
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
        "best.pt",
        "config.yaml",
        "label_noise.json",  # the demo recipe trains on 40% noisy labels
        "last.pt",
        "metrics.jsonl",
        "summary.json",
        "tensorboard",
    ]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
