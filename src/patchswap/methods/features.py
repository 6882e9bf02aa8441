"""Feature taps: intermediate outputs of an unmodified model, through forward hooks.

Distillation methods need stage outputs (AT, BYOT), the penultimate embedding (SP, RKD, CRD,
DDGSD) or the last feature map (Zipf's LS). Models from any source go in unchanged: the taps
find those places by running one probe forward and watching the model's top-level children.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import PatchswapError


@dataclass(frozen=True)
class Stage:
    """A top-level child of the model whose output is the last feature map at a resolution."""

    name: str
    channels: int
    size: tuple[int, int]


def classifier_of(model: nn.Module) -> tuple[str, nn.Linear]:
    """The model's final `nn.Linear` (the classifier whose input is the embedding)."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise PatchswapError(
            f"{type(model).__name__} has no nn.Linear classifier; this method needs one"
        )
    return linears[-1]


@torch.no_grad()
def find_stages(model: nn.Module, in_channels: int, image_size: tuple[int, int]) -> list[Stage]:
    """Stages in forward order: for each spatial size a 4-D output passes through, the last
    top-level child that produced it (e.g. `layer1..layer4` of a ResNet, with the stem first).
    Parameter-free children that pool to 1x1 (global pooling) are not stages.
    """
    records: list[tuple[str, torch.Size]] = []

    def record(name: str, child: nn.Module, out: torch.Tensor) -> None:
        global_pool = out.shape[2:] == (1, 1) and next(child.parameters(), None) is None
        if not global_pool:
            records.append((name, out.shape))

    hooks = [
        child.register_forward_hook(
            lambda m, _i, out, name=name: (
                record(name, m, out) if torch.is_tensor(out) and out.dim() == 4 else None
            )
        )
        for name, child in model.named_children()
    ]
    was_training = model.training
    model.eval()
    try:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
        model(torch.zeros(2, in_channels, *image_size, device=device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    stages: dict[tuple[int, int], Stage] = {}
    for name, shape in records:
        size = (shape[2], shape[3])
        stages.pop(size, None)  # keep insertion order of the *last* producer per size
        stages[size] = Stage(name, shape[1], size)
    if not stages:
        raise PatchswapError(
            f"found no 4-D feature maps among the top-level modules of {type(model).__name__}"
        )
    return list(stages.values())


class FeatureTap:
    """Records, at every forward, the outputs of named submodules and the classifier's input.

    `tap.outputs[name]` holds the latest output of module `name`; `tap.embedding` the input of
    the final `nn.Linear`. With `training_only`, nothing is recorded while the model is in
    eval mode (use it for the trained network; a teacher always runs in eval mode). Call
    `remove()` to detach the hooks.
    """

    def __init__(
        self,
        model: nn.Module,
        names: Sequence[str] = (),
        embedding: bool = False,
        training_only: bool = False,
    ):
        modules = dict(model.named_modules())
        missing = [name for name in names if name not in modules]
        if missing:
            raise PatchswapError(f"model has no submodule {missing[0]!r} to tap")
        self.outputs: dict[str, torch.Tensor] = {}
        self.embedding: torch.Tensor | None = None
        # A student's taps stay silent in eval mode, so evaluation keeps no activations alive.
        self.training_only = training_only
        self._hooks = [
            modules[name].register_forward_hook(
                lambda m, _i, out, name=name: (
                    self.outputs.__setitem__(name, out)
                    if m.training or not self.training_only
                    else None
                )
            )
            for name in names
        ]
        if embedding:
            _, classifier = classifier_of(model)
            self._hooks.append(classifier.register_forward_pre_hook(self._keep_embedding))

    def _keep_embedding(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        if module.training or not self.training_only:
            self.embedding = inputs[0]

    def features(self, names: Sequence[str]) -> list[torch.Tensor]:
        """The latest outputs of `names`, in that order."""
        return [self.outputs[name] for name in names]

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
