"""Zipf's LS: min-ranks, the Zipf prior, dense votes, the loss, refused models, its recipe."""

import math

import pytest
import torch
import torch.nn.functional as F
from recipe_run import train_recipe_one_epoch
from torch import nn

from patchswap.errors import PatchswapError
from patchswap.methods import Batch, MethodContext, build_method
from patchswap.methods.zipf_ls import dense_votes, min_rank, zipf_prior
from patchswap.models import build_model

CONTEXT = MethodContext(num_classes=10, epochs=1, image_size=(28, 28), in_channels=1)


def test_min_rank_matches_scipy_rankdata_min_of_the_negated_scores():
    scores = torch.tensor([[4.0, 3.0, 3.0, 2.0, 1.0], [0.0, 5.0, 0.0, 5.0, 1.0]])
    assert min_rank(scores).tolist() == [[1, 2, 2, 4, 5], [4, 1, 4, 1, 3]]


def test_prior_is_one_over_rank_over_the_non_targets():
    votes = torch.tensor([[4.0, 3.0, 3.0, 2.0, 1.0]])
    prior = zipf_prior(votes, torch.tensor([0]))  # ranks of classes 1..4: 2, 2, 4, 5
    weights = [1 / 2, 1 / 2, 1 / 4, 1 / 5]
    assert prior.tolist()[0] == pytest.approx([w / sum(weights) for w in weights])


def test_dense_votes_count_argmax_classes_over_the_upsampled_map():
    classifier = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        classifier.weight.copy_(torch.eye(3))
    # one row, two columns: class 0 on the left, class 2 on the right; bilinear x2 gives
    # columns 1, .75/.25, .25/.75, 0 of the left feature, so two columns per class, two rows
    feature_map = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 1.0]]]])
    assert dense_votes(feature_map, classifier).tolist() == [[4.0, 0.0, 4.0]]


def test_loss_matches_a_direct_computation():
    torch.manual_seed(0)
    model = build_model("resnet8", 10, 1)
    method = build_method({"name": "zipf_ls"}, model, CONTEXT)
    maps = []
    hook = model.layer3.register_forward_hook(lambda _m, _i, out: maps.append(out))
    images, targets = torch.randn(3, 1, 28, 28), torch.tensor([1, 4, 7])
    out = method(model, Batch(images, targets, torch.arange(3)))
    hook.remove()
    with torch.no_grad():
        up = F.interpolate(maps[0], scale_factor=2, mode="bilinear", align_corners=False)
        expected = F.cross_entropy(out.logits, targets).item()
        for i, y in enumerate(targets.tolist()):
            votes = [0] * 10
            for row in range(up.shape[2]):
                for col in range(up.shape[3]):
                    votes[int(model.fc(up[i, :, row, col]).argmax())] += 1
            rank = [1 + sum(v > votes[c] for v in votes) for c in range(10)]
            others = [c for c in range(10) if c != y]
            p = [1 / rank[c] for c in others]
            p = [v / sum(p) for v in p]
            log_q = F.log_softmax(out.logits[i, others], dim=0).tolist()
            expected += 0.1 * sum(pc * (math.log(pc) - lq) for pc, lq in zip(p, log_q)) / 3
    assert sum(out.losses.values()).item() == pytest.approx(expected, rel=1e-5)
    assert out.losses["zipf"].item() > 0


def test_models_without_a_plain_pooled_classifier_are_refused():
    model = nn.Sequential(  # max-pools its last map into the classifier
        nn.Conv2d(1, 4, 3), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 10)
    )
    with pytest.raises(PatchswapError, match="Sequential transforms its last feature map"):
        build_method({"name": "zipf_ls"}, model, CONTEXT)


@pytest.mark.parametrize("name", ["shufflenetv2", "mobilenetv2", "vgg13"])
def test_cifar_models_pool_their_last_feature_map_into_the_classifier(name):
    build_method({"name": "zipf_ls"}, build_model(name, 10, 1), CONTEXT)  # not refused


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/zipf_ls", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert record["train_zipf"] > 0
