"""DDP under torchrun on CPU (gloo): same metrics as one process, stop and resume.

Each test starts real `torchrun` jobs of 2 processes, so they take a few seconds each.
"""

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from fixtures_data import idx_bytes

from patchswap.engine.checkpoint import load_checkpoint
from patchswap.evaluate_checkpoint import evaluate_checkpoint


@pytest.fixture(scope="module")
def learnable_root(tmp_path_factory):
    """Fashion-MNIST-format files whose class is a bright horizontal band: easy to learn, so
    accuracies are stable enough to compare across process counts."""
    root = tmp_path_factory.mktemp("bands")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 160), ("t10k", 80)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, (n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 * label + 4 : 2 * label + 7] = 230
        files = {"images-idx3": images.astype(np.uint8), "labels-idx1": labels.astype(np.uint8)}
        for kind, array in files.items():
            (root / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(idx_bytes(array)))
    return root


def run(args, processes, tmp_path, cache):
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        "-m",
        "patchswap",
    ]
    command = (launcher if processes > 1 else [sys.executable, "-m", "patchswap"]) + args
    env = {**os.environ, "PATCHSWAP_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def train_args(root, tmp_path, name, *extra):
    sets = [
        f"data.root={root}",
        "model.kwargs={width: 8}",
        "batch_size=16",
        "eval_batch_size=32",
        "progress=false",
        f"output_dir={tmp_path / 'runs'}",
        "data.augment=false",
        "optim.lr=0.05",
        "schedule.name=constant",
        f"name={name}",
        *extra,
    ]
    return [
        "train",
        "fashion_mnist/hard_label",
        *[a for s in sets for a in ("--set", s)],
        "--quiet",
    ]


def records(tmp_path, name):
    lines = (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_two_processes_match_one_process(learnable_root, tmp_path, patchswap_cache):
    for processes in (1, 2):
        run(
            train_args(learnable_root, tmp_path, f"p{processes}", "epochs=3"),
            processes,
            tmp_path,
            patchswap_cache,
        )
    one, two = records(tmp_path, "p1")[-1], records(tmp_path, "p2")[-1]
    # Same global batch of 16; per-process batch-norm statistics (8 vs 16 images) are the only
    # difference in the arithmetic, so the runs agree closely but not bit for bit. Mid-training
    # top-1 on 80 test images moves by 5-14 points between such runs (measured with either
    # memory layout, 3 and 6 epochs), so the loss carries the tight check.
    assert abs(one["test_top1"] - two["test_top1"]) <= 15.0
    assert two["test_loss"] == pytest.approx(one["test_loss"], rel=0.1)
    assert one["test_top1"] > 50  # the data is learnable: the comparison is not between noise


def test_sharded_evaluation_equals_single_process_evaluation(
    learnable_root, tmp_path, patchswap_cache
):
    run(train_args(learnable_root, tmp_path, "ddp", "epochs=1"), 2, tmp_path, patchswap_cache)
    logged = records(tmp_path, "ddp")[-1]
    folder = tmp_path / "runs" / "ddp"
    again = evaluate_checkpoint(folder / "last.pt")
    assert again["samples"] == 80
    assert again["top1"] == logged["test_top1"] and again["top5"] == logged["test_top5"]
    assert again["loss"] == pytest.approx(logged["test_loss"], rel=1e-5)


def test_two_process_run_stops_and_resumes_bit_for_bit(learnable_root, tmp_path, patchswap_cache):
    run(train_args(learnable_root, tmp_path, "full", "epochs=2"), 2, tmp_path, patchswap_cache)
    run(train_args(learnable_root, tmp_path, "part", "epochs=1"), 2, tmp_path, patchswap_cache)
    resume = ["train", "--resume", str(tmp_path / "runs" / "part"), "--set", "epochs=2", "--quiet"]
    run(resume, 2, tmp_path, patchswap_cache)
    full, part = (load_checkpoint(tmp_path / "runs" / n) for n in ("full", "part"))
    assert part["epoch"] == 2 and len(part["rng"]) == 2
    for key, value in full["model"].items():
        assert torch.equal(value, part["model"][key]), key


def _average_worker(rank, init_file, out):
    import torch.distributed as dist

    from patchswap.engine.distributed import average_gradients

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    with_grad, without = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    with_grad.grad = torch.full((3,), float(rank + 1))  # rank 0: 1, rank 1: 2
    if rank == 1:
        without.grad = torch.full((2,), 4.0)  # absent on rank 0: counts as zeros there
    average_gradients([with_grad, without])
    torch.save((with_grad.grad, without.grad), f"{out}{rank}.pt")
    dist.destroy_process_group()


def test_method_parameters_get_averaged_gradients(tmp_path):
    out = str(tmp_path / "grads")
    torch.multiprocessing.spawn(_average_worker, args=(str(tmp_path / "init"), out), nprocs=2)
    for rank in range(2):
        with_grad, without = torch.load(f"{out}{rank}.pt")
        assert torch.equal(with_grad, torch.full((3,), 1.5))
        assert torch.equal(without, torch.full((2,), 2.0))
