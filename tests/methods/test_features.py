"""Feature taps on unmodified models."""

import pytest
import torch

from patchswap.errors import PatchswapError
from patchswap.methods.features import FeatureTap, classifier_of, find_stages
from patchswap.models import build_model


@pytest.mark.parametrize(
    "name, expected",
    [
        ("resnet18", ["layer1", "layer2", "layer3", "layer4"]),
        ("resnet8", ["layer1", "layer2", "layer3"]),
        ("tv:resnet18", ["layer1", "layer2", "layer3", "layer4"]),
    ],
)
def test_find_stages_of_resnets(name, expected):
    model = build_model(name, 10, 3)
    size = (64, 64) if name.startswith("tv:") else (32, 32)
    stages = find_stages(model, 3, size)
    assert [s.name for s in stages][-len(expected) :] == expected
    sizes = [s.size[0] for s in stages]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("name", ["vgg13", "shufflenetv2", "mobilenetv2", "resnet8x4"])
def test_every_cifar_family_has_stages_and_a_classifier(name):
    model = build_model(name, 10, 1)
    assert len(find_stages(model, 1, (28, 28))) >= 2
    assert isinstance(classifier_of(model)[1], torch.nn.Linear)


def test_tap_records_stage_outputs_and_embedding_with_gradients():
    model = build_model("resnet8", 10, 1)
    names = [s.name for s in find_stages(model, 1, (28, 28))]
    tap = FeatureTap(model, names, embedding=True)
    logits = model(torch.randn(4, 1, 28, 28))
    features = tap.features(names)
    assert [f.shape[0] for f in features] == [4] * len(names)
    assert tap.embedding.shape == (4, classifier_of(model)[1].in_features)
    assert torch.allclose(classifier_of(model)[1](tap.embedding), logits)
    (features[-1].mean() + tap.embedding.mean()).backward()
    assert model.conv1.weight.grad is not None
    tap.remove()
    tap.outputs.clear()
    model(torch.randn(1, 1, 28, 28))
    assert tap.outputs == {}


def test_unknown_module_is_a_clear_error():
    with pytest.raises(PatchswapError, match="no submodule 'layer9'"):
        FeatureTap(build_model("resnet8", 10, 1), ["layer9"])


def test_training_only_tap_records_nothing_in_eval_mode():
    model = build_model("resnet8", 10, 1)
    tap = FeatureTap(model, ["layer3"], embedding=True, training_only=True)
    model.eval()
    model(torch.randn(2, 1, 28, 28))
    assert tap.outputs == {} and tap.embedding is None
    model.train()
    model(torch.randn(2, 1, 28, 28))
    assert "layer3" in tap.outputs and tap.embedding is not None
