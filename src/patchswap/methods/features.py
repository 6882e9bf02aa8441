"""Feature taps: intermediate outputs of an unmodified model, through forward hooks.

Distillation methods need stage outputs (AT, BYOT, SP), the penultimate embedding (RKD, CRD,
DDGSD) or the map pooled into the classifier (Zipf's LS). Models from any source go in
unchanged: registered models name their stage outputs (`stage_names`), and everything else is
found by running one probe forward and watching the model's top-level children.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import PatchswapError


@dataclass(frozen=True)
class Stage:
    """A submodule whose output is a feature map the methods tap: name, channels, size."""

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
def _probe(
    model: nn.Module, names: Sequence[str], in_channels: int, image_size: tuple[int, int]
) -> list[tuple[str, torch.Size]]:
    """`(name, shape)` of each 4-D output of the submodules `names` in one eval-mode forward of
    two blank images, in call order. Parameter-free modules that pool to 1x1 (global pooling)
    are left out."""
    records: list[tuple[str, torch.Size]] = []

    def record(name: str, child: nn.Module, out: object) -> None:
        if not torch.is_tensor(out) or out.dim() != 4:
            return
        global_pool = out.shape[2:] == (1, 1) and next(child.parameters(), None) is None
        if not global_pool:
            records.append((name, out.shape))

    hooks = [
        model.get_submodule(name).register_forward_hook(
            lambda m, _i, out, name=name: record(name, m, out)
        )
        for name in names
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
    return records


def _top_level_maps(
    model: nn.Module, in_channels: int, image_size: tuple[int, int]
) -> list[tuple[str, torch.Size]]:
    """The 4-D outputs of the model's top-level children, in call order; at least one."""
    records = _probe(model, [name for name, _ in model.named_children()], in_channels, image_size)
    if not records:
        raise PatchswapError(
            f"found no 4-D feature maps among the top-level modules of {type(model).__name__}"
        )
    return records


def _stage(name: str, shape: torch.Size) -> Stage:
    return Stage(name, shape[1], (shape[2], shape[3]))


def find_stages(model: nn.Module, in_channels: int, image_size: tuple[int, int]) -> list[Stage]:
    """The model's stage outputs in forward order, where AT pairs maps and BYOT attaches heads.

    A model that lists them in `stage_names` (every registered model: RepDistiller's
    `feat[1:-1]`, e.g. `layer1..layer4` of a ResNet, `block1..block4` of a VGG) gets exactly
    those. Any other model is probed: for each spatial size a 4-D output passes through, the
    last top-level child that produced it (which keeps a stem whose resolution no stage shares).
    """
    declared = getattr(model, "stage_names", None)
    if declared is not None:
        shapes = dict(_probe(model, declared, in_channels, image_size))
        return [_stage(name, shapes[name]) for name in declared]
    stages: dict[tuple[int, int], Stage] = {}
    for name, shape in _top_level_maps(model, in_channels, image_size):
        stage = _stage(name, shape)
        stages.pop(stage.size, None)  # keep insertion order of the *last* producer per size
        stages[stage.size] = stage
    return list(stages.values())


def last_feature_map(model: nn.Module, in_channels: int, image_size: tuple[int, int]) -> Stage:
    """The last 4-D map a top-level child outputs before global pooling: for a plain CNN, the
    map that is pooled into the classifier (which can come after the last stage, e.g. the
    1x1 head conv of MobileNetV2 and ShuffleNetV2)."""
    return _stage(*_top_level_maps(model, in_channels, image_size)[-1])


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
