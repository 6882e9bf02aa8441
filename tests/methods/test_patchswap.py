"""The method's forward: two passes as Algorithm 1 (default) or one pass of the pair batch."""

import pytest
import torch
from torch import nn

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
