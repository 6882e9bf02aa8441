"""Analyses against hand-computed values, Grad-CAM on a small net, and every plot's PNG."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from patchswap.engine import step_stats
from patchswap.errors import PatchswapError
from patchswap.evaluation import analysis, plots
from patchswap.evaluation.gradcam import grad_cam, overlay
from patchswap.models import build_model

PNG = b"\x89PNG\r\n\x1a\n"


class ConstantClass(nn.Module):
    """Always predicts class 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([5.0, 0.0, 0.0]).expand(len(x), 3)


def test_train_test_gap():
    train = [(torch.zeros(4, 1, 2, 2), torch.tensor([0, 0, 1, 2]))]
    test = [(torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 1, 2]))]
    gap = analysis.train_test_gap(ConstantClass(), train, test, "cpu")
    assert gap == {"train_top1": 50.0, "test_top1": 25.0, "gap": 25.0}


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3), nn.Flatten()]
    return nn.Sequential(*layers, nn.Linear(2 * 4 * 4, 3))


def test_conv_gradients_from_grad_and_from_a_batch_agree():
    model = small_cnn().eval()
    images, labels = torch.randn(5, 1, 6, 6), torch.tensor([0, 1, 2, 0, 1])
    on_batch = analysis.conv_gradients_on_batch(model, images, labels)
    assert all(p.grad is None for p in model.parameters())  # the model's .grad is untouched
    F.cross_entropy(model(images), labels).backward()
    from_grad = step_stats.conv_gradient_magnitudes(model)
    assert list(from_grad) == ["0", "2"]
    assert from_grad["0"] == pytest.approx(float(model[0].weight.grad.abs().mean()))
    assert on_batch == pytest.approx(from_grad)


def test_pair_statistics():
    p_a = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    p_b = torch.tensor([[0.4, 0.4, 0.2], [0.2, 0.2, 0.6]])
    stats = step_stats.pair_statistics(p_a.log(), p_b.log(), torch.tensor([0, 2]))
    assert stats[step_stats.KD_GRADIENT_KEY] == pytest.approx((0.6 + 0.4) / 2)
    assert stats[step_stats.CONFIDENCE_GAP_KEY] == pytest.approx((0.3 + 0.2) / 2)
    soft = step_stats.pair_statistics(p_a.log(), p_b.log(), torch.tensor([0, 2]), temperature=4)
    assert soft[step_stats.KD_GRADIENT_KEY] < stats[step_stats.KD_GRADIENT_KEY]


def test_predictive_distribution():
    probs = np.array([[0.6, 0.3, 0.1], [0.8, 0.05, 0.15], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    labels = np.array([0, 0, 0, 1])
    dist = analysis.predictive_distribution(probs, labels, 0, ["cat", "dog", "fox"], top_k=2)
    assert dist["class"] == "cat"
    assert dist["correct"]["count"] == 2
    assert dist["correct"]["top"] == [("cat", pytest.approx(0.7)), ("dog", pytest.approx(0.175))]
    assert dist["misclassified"] == {"count": 1, "top": [("dog", 0.5), ("fox", 0.3)]}
    with pytest.raises(PatchswapError, match="class index 3 is outside 0..2"):
        analysis.predictive_distribution(probs, labels, 3, ["cat", "dog", "fox"])


def write_run(folder, gamma, p, best):
    folder.mkdir(parents=True)
    config = {"method": {"name": "patchswap", "gamma": gamma, "p": p}, "seed": 0}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "summary.json").write_text(json.dumps({"best_top1": best}))
    return folder


def test_hyperparameter_grid_averages_seeds_and_leaves_missing_cells_empty(tmp_path):
    runs = [
        write_run(tmp_path / "a", 0.5, 0.0, 70.0),
        write_run(tmp_path / "b", 0.5, 0.0, 72.0),
        write_run(tmp_path / "c", 1.0, 0.0, 75.0),
        write_run(tmp_path / "d", 1.0, 0.5, 80.0),
    ]
    heat = analysis.hyperparameter_grid(runs, "method.gamma", "method.p")
    assert heat.x_values == [0.5, 1.0] and heat.y_values == [0.0, 0.5]
    assert heat.values[0].tolist() == [71.0, 75.0]
    assert math.isnan(heat.values[1, 0]) and heat.values[1, 1] == 80.0
    assert heat.counts.tolist() == [[2, 1], [0, 1]]
    with pytest.raises(PatchswapError, match="has no config key 'method.alpha'"):
        analysis.hyperparameter_grid(runs, "method.alpha", "method.p")
    with pytest.raises(PatchswapError, match="is not a finished run folder"):
        analysis.hyperparameter_grid([tmp_path], "method.gamma", "method.p")


def test_grad_cam_maps_of_the_last_stage():
    model = build_model("resnet8", 10, 1, width=4).eval()
    images = torch.randn(3, 1, 28, 28)
    maps = grad_cam(model, images, [0, 1, 2], in_channels=1, image_size=(28, 28))
    assert maps.shape == (3, 28, 28) and maps.min() >= 0 and maps.max() <= 1
    assert not model.training
    pictures = overlay(np.random.default_rng(0).uniform(size=(3, 28, 28, 1)), maps)
    assert pictures.shape == (3, 28, 28, 3) and pictures.dtype == np.uint8


def written_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG and path.stat().st_size > 1000


def test_every_plot_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 4, size=50)
    dist = analysis.predictive_distribution(probs, labels, 1, ["a", "b", "c", "d"])
    corruption = {
        "corruptions": {"fog": {"severity": {1: 0.8, 5: 0.4}, "mean": 0.6}},
        "mean": 0.6,
    }
    keys = (step_stats.KD_GRADIENT_KEY, step_stats.CONFIDENCE_GAP_KEY)
    records = [{"epoch": e, keys[0]: 1 / e, keys[1]: 0.1} for e in (1, 2, 3)]
    gap = {"train_top1": 99, "test_top1": 80, "gap": 19}
    cams = rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    heat = analysis.HeatMap("x", "y", [1, 2], [3], np.array([[70.0, math.nan]]), np.ones((1, 2)))
    paths = [
        plots.plot_reliability_diagram(probs, labels, tmp_path / "reliability.png"),
        plots.plot_attack_accuracy({"fgsm": {0.0: 0.9, 0.01: 0.5}}, tmp_path / "adv.png"),
        plots.plot_corruption_accuracy(corruption, tmp_path / "corruption.png", clean=0.9),
        plots.plot_train_test_gap({"a": gap}, tmp_path / "gap.png"),
        plots.plot_conv_gradients({"a": {"conv1": 1e-3, "conv2": 1e-4}}, tmp_path / "grad.png"),
        plots.plot_pair_statistics({"run": records}, tmp_path / "pairs.png"),
        plots.plot_predictive_distribution(dist, tmp_path / "dist.png"),
        plots.plot_grad_cam(cams, ["a", "b", "c"], tmp_path / "cam.png"),
        plots.plot_hyperparameter_heatmap(heat, tmp_path / "heat.png"),
    ]
    for path in paths:
        assert written_png(path), path
