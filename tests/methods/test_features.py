"""Feature taps on unmodified models."""

import pytest
import torch

from patchswap.errors import PatchswapError
from patchswap.methods.features import FeatureTap, classifier_of, find_stages, last_feature_map
from patchswap.models import available_models, build_model

FOUR = ["layer1", "layer2", "layer3", "layer4"]
# RepDistiller's `feat[1:-1]` of every registered model: stage outputs, never the stem.
STAGE_OUTPUTS = {
    **dict.fromkeys(["resnet18", "resnet34", "resnet50", "resnet101"], FOUR),
    **dict.fromkeys(
        ["resnet8", "resnet14", "resnet20", "resnet32", "resnet8x4", "resnet32x4"], FOUR[:3]
    ),
    **dict.fromkeys(["vgg13", "vgg16"], ["block1", "block2", "block3", "block4"]),
    **dict.fromkeys(["shufflenetv1", "shufflenetv2"], FOUR[:3]),
    "mobilenetv2": ["blocks.1", "blocks.2", "blocks.4", "blocks.6"],
}


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


def test_every_registered_model_has_its_stage_outputs_listed_here():
    assert sorted(STAGE_OUTPUTS) == available_models()


@pytest.mark.parametrize("name", sorted(STAGE_OUTPUTS))
def test_stages_are_the_stage_outputs_after_the_stem(name):
    model = build_model(name, 10, 3)
    outputs = {}
    for stage_name in STAGE_OUTPUTS[name]:
        model.get_submodule(stage_name).register_forward_hook(
            lambda _m, _i, out, key=stage_name: outputs.__setitem__(key, out.shape)
        )
    model(torch.zeros(2, 3, 32, 32))
    stages = find_stages(model, 3, (32, 32))
    assert [s.name for s in stages] == STAGE_OUTPUTS[name]
    assert [(s.channels, *s.size) for s in stages] == [
        (outputs[s.name][1], *outputs[s.name][2:]) for s in stages
    ]


def test_vgg_stages_are_the_four_blocks_after_a_pooling():
    # block0 is the stem (RepDistiller's f0); block3 shares block4's resolution but is a stage.
    stages = find_stages(build_model("vgg13", 10, 3), 3, (32, 32))
    assert [(s.name, s.size[0]) for s in stages] == [
        ("block1", 16),
        ("block2", 8),
        ("block3", 4),
        ("block4", 4),
    ]


@pytest.mark.parametrize(
    "name, expected", [("mobilenetv2", "conv2"), ("shufflenetv2", "relu2"), ("vgg13", "block4")]
)
def test_last_feature_map_is_the_one_pooled_into_the_classifier(name, expected):
    assert last_feature_map(build_model(name, 10, 3), 3, (32, 32)).name == expected


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
