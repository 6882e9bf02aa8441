"""The method's forward: two passes as Algorithm 1 (default) or one pass of the pair batch;
partners from the sampler (default) or from the batch, computed by `PatchSwapObjective`."""

import pytest
import torch
from recipe_run import assert_resume_continues_the_run
from torch import nn

from patchswap import PatchSwapObjective
from patchswap.errors import ConfigError
from patchswap.methods import Batch, MethodContext, build_method

CONTEXT = MethodContext(num_classes=3, epochs=1, image_size=(8, 8), in_channels=1)


def bn_model():
    """Batch norm in train mode makes a half's output depend on what it is normalized with."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 3))


def pair_batch():
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(8, 1, 8, 8, generator=generator)
    images[4:] += 3.0  # partners drawn from another distribution: batch statistics differ
    return Batch(images, torch.tensor([0, 1, 2, 0] * 2), torch.arange(8))


@pytest.mark.parametrize("forward", ["separate", "joint"])
def test_forward_option_sets_the_batch_norm_statistics(forward):
    net = bn_model()
    batch = pair_batch()
    spec = {"name": "patchswap", "p": 0.0}  # no swap: the halves are the inputs themselves
    options = {} if forward == "separate" else {"forward": "joint"}  # separate is the default
    out = build_method({**spec, **options}, net, CONTEXT)(net, batch)
    separate = torch.cat([net(batch.images[:4]), net(batch.images[4:])])
    joint = net(batch.images)
    expected, other = (separate, joint) if forward == "separate" else (joint, separate)
    assert torch.allclose(out.logits, expected, atol=1e-6)
    assert not torch.allclose(out.logits, other, atol=1e-3)


def test_unknown_forward_is_one_line():
    with pytest.raises(ConfigError, match="method.forward='both' is unknown; valid: separate"):
        build_method({"name": "patchswap", "forward": "both"}, bn_model(), CONTEXT)


def test_batch_pairs_compute_what_the_objective_computes():
    """`pairs: batch` on an ordinary batch is `PatchSwapObjective` on it: same draws, same loss."""
    net = bn_model()
    images = torch.randn(12, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 1, 2, 0, 1, 0, 2, 1, 0, 2, 1, 0])
    method = build_method({"name": "patchswap", "pairs": "batch"}, net, CONTEXT)
    assert not method.paired  # the trainer gives it ordinary shuffled batches
    torch.manual_seed(7)
    out = method(net, Batch(images, labels, torch.arange(12)))
    torch.manual_seed(7)
    loss, parts = PatchSwapObjective()(net, images, labels, return_parts=True)
    assert out.losses.keys() == parts.keys()
    for name, value in parts.items():
        assert torch.equal(out.losses[name], value), name
    assert torch.equal(sum(out.losses.values()), loss)
    assert out.logits.shape == (24, 3) and torch.equal(out.targets, labels.repeat(2))


def test_dataset_pairs_use_the_objective_on_the_sampler_pairs():
    net = bn_model()
    batch = pair_batch()
    method = build_method({"name": "patchswap"}, net, CONTEXT)
    assert method.paired
    torch.manual_seed(3)
    out = method(net, batch)
    torch.manual_seed(3)
    parts, logits = PatchSwapObjective().pair_terms(
        net, batch.images[:4], batch.images[4:], batch.targets[:4]
    )
    assert torch.equal(out.logits, logits)
    assert all(torch.equal(out.losses[k], v) for k, v in parts.items())


def test_unknown_pairs_is_one_line():
    with pytest.raises(
        ConfigError, match="method.pairs=.epoch. is unknown; valid: dataset, batch, matched"
    ):
        build_method({"name": "patchswap", "pairs": "epoch"}, bn_model(), CONTEXT)


def test_adaptive_p_r_is_driven_by_the_epochs_training_accuracy():
    """A model that always predicts class 0 gets exactly the class-0 samples right."""
    spec = {"name": "patchswap", "schedule": "adaptive", "p": 0.5, "p_min": 0.1}
    always_zero = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with torch.no_grad():
        always_zero[1].weight.zero_()
        always_zero[1].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    method = build_method(spec, always_zero, CONTEXT)
    assert method.on_epoch_start(1)["p_r"] == 0.1
    batch = pair_batch()  # targets 0, 1, 2, 0 (twice): 4 of 8 are class 0
    method(always_zero, batch)
    method(always_zero, batch)
    assert method.epoch_hits.tolist() == [8.0, 16.0]
    logged = method.on_epoch_start(2)
    assert logged == {"p_r": pytest.approx(0.3), "p_r_accuracy": 0.5}
    assert method.objective.p == pytest.approx(0.3) and method.epoch_hits.sum() == 0
    assert "epoch_hits" in method.state_dict()  # resumes with the epoch it was measured in
    assert "epoch_hits" not in build_method({"name": "patchswap"}, bn_model(), CONTEXT).state_dict()


def test_adaptive_p_r_resumes_exactly(tiny_run, tmp_path):
    def adaptive_run(*extra):
        return tiny_run("method.schedule=adaptive", *extra)

    state = assert_resume_continues_the_run(
        "fashion_mnist/patchswap", adaptive_run, tmp_path / "runs"
    )
    assert state["method"]["epoch_hits"][1] > 0


def test_matched_pairs_take_disjoint_pair_batches_from_the_sampler():
    method = build_method({"name": "patchswap", "pairs": "matched"}, bn_model(), CONTEXT)
    assert method.paired and method.matched
    assert method.objective.mode == "joint"  # the default forward of matched pairs
    assert build_method({"name": "patchswap"}, bn_model(), CONTEXT).objective.mode == "separate"
    assert not build_method({"name": "patchswap"}, bn_model(), CONTEXT).matched


@pytest.mark.parametrize("forward", ["separate", "joint"])
def test_matched_pairs_forward_each_training_image_once_per_epoch(tiny_run, tmp_path, forward):
    """Same steps and images per epoch as hard label at the same batch size (60 images:
    10 classes of 6, none odd), on the device-resident data path, with either forward."""
    from patchswap.engine.trainer import Trainer
    from patchswap.recipes import find_recipe
    from patchswap.runs import load_config

    extra = ("method.pairs=matched", f"method.forward={forward}", "epochs=1")
    matched = Trainer(load_config(find_recipe("fashion_mnist/patchswap"), tiny_run(*extra)))
    hard = Trainer(load_config(find_recipe("fashion_mnist/hard_label"), tiny_run("epochs=1")))
    assert matched.loader_kind == "device"
    assert len(matched.train_loader) == len(hard.train_loader)
    seen = [i for _, _, index in matched.train_loader for i in index.tolist()]
    assert sorted(seen) == list(range(60))
    summary = matched.fit()
    assert summary["epochs_done"] == 1


def test_matched_pairs_resume_exactly(tiny_run, tmp_path):
    def matched_run(*extra):
        return tiny_run("method.pairs=matched", *extra)

    assert_resume_continues_the_run("fashion_mnist/patchswap", matched_run, tmp_path / "runs")


def test_matched_pairs_need_an_even_batch(tiny_run, tmp_path, capsys):
    from patchswap.cli import main

    sets = [a for o in tiny_run("method.pairs=matched", "batch_size=7") for a in ("--set", o)]
    assert main(["train", "fashion_mnist/patchswap", *sets, "--quiet"]) == 2
    assert (
        "batch_size per process 7 must be even with method.pairs=matched" in capsys.readouterr().err
    )
