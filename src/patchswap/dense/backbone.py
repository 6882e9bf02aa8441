"""Backbones for dense tasks: a classifier of this trainer, cut at named stages.

The paper carries a ResNet50 trained with patch swap into DeepLabV3+, PSPNet and SSD. Here a
backbone is any model `patchswap.models.build_model` builds (a registered CIFAR-style net,
`tv:<name>`, `timm:<name>`), turned by torchvision's `create_feature_extractor` into a module
that returns the outputs of its stages (`taps`) and drops the pooling and classifier. Its
parameters keep the classifier's names, so a `patchswap train` checkpoint loads into it by name
and shape, and `WeightsReport` says exactly what landed and what did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from ..checkpoint import load_checkpoint
from ..errors import CheckpointError, PatchswapError
from ..methods.features import find_stages
from ..models import build_model
from ..scores import task_of

PROBE_SIZE = 64  # side of the blank images that measure each tap's channels and stride
RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")  # torchvision's and timm's ResNets


def is_checkpoint(spec: str) -> bool:
    """Whether a backbone spec names a checkpoint (a path) rather than an architecture."""
    return "/" in spec or spec.endswith(".pt") or Path(spec).exists()


def checkpoint_architecture(state: dict[str, Any], source: str) -> tuple[str, dict[str, Any]]:
    """The model name and options a loaded `patchswap train` checkpoint was trained with."""
    task = task_of(state["config"])
    if task != "classification":
        raise CheckpointError(
            f"{source!r} is a {task} run; a backbone comes from a classification run of "
            "`patchswap train`"
        )
    model = state["config"].get("model") or {}
    if "name" not in model:
        raise CheckpointError(f"{source!r} names no model in its config; pass a run of train")
    return model["name"], dict(model.get("kwargs") or {})


def default_taps(classifier: nn.Module, in_channels: int) -> tuple[str, ...]:
    """A model's stage outputs: the registered models' `stage_names`, a ResNet's
    `layer1..layer4`, else the last module of each resolution a probe forward finds."""
    declared = getattr(classifier, "stage_names", None)
    if declared is not None:
        return tuple(declared)
    children = dict(classifier.named_children())
    if all(name in children for name in RESNET_STAGES):
        return RESNET_STAGES
    return tuple(stage.name for stage in find_stages(classifier, in_channels, (PROBE_SIZE,) * 2))


@dataclass(frozen=True)
class WeightsReport:
    """What loading a checkpoint into a backbone did, tensor by tensor (by name and shape)."""

    source: str
    loaded: tuple[str, ...]
    missing: tuple[str, ...]  # backbone tensors the checkpoint lacks: kept as initialised
    mismatched: tuple[str, ...]  # same name, another shape: kept as initialised
    unused: tuple[str, ...]  # checkpoint tensors with no place in the backbone (the classifier)

    def describe(self) -> str:
        """One line per kind, each naming up to four tensors."""

        def names(keys: tuple[str, ...]) -> str:
            shown = ", ".join(keys[:4])
            return f"{shown}, ... ({len(keys)})" if len(keys) > 4 else shown or "none"

        return (
            f"backbone weights from {self.source}: {len(self.loaded)} tensors loaded\n"
            f"  not in the checkpoint (initialised): {names(self.missing)}\n"
            f"  other shape in the checkpoint (initialised): {names(self.mismatched)}\n"
            f"  checkpoint tensors not used: {names(self.unused)}"
        )


class Backbone(nn.Module):
    """The outputs of a classifier's `taps`, in forward order, as a name -> map dict.

    `channels[tap]` and `strides[tap]` (input side / map side) let heads size themselves.
    """

    def __init__(self, classifier: nn.Module, taps: Sequence[str], in_channels: int) -> None:
        super().__init__()
        modules = dict(classifier.named_modules())
        unknown = [tap for tap in taps if tap not in modules]
        if unknown:
            stages = ", ".join(default_taps(classifier, in_channels))
            raise PatchswapError(
                f"the backbone has no stage {unknown[0]!r} to tap; its stages: {stages}"
            )
        self.taps = tuple(taps)
        self.in_channels = in_channels
        try:
            self.body = create_feature_extractor(classifier, return_nodes=list(self.taps))
        except Exception as err:  # torch.fx raises several types for Python control flow
            raise PatchswapError(
                f"{type(classifier).__name__} cannot be cut into a backbone: torch.fx cannot "
                f"trace its forward ({type(err).__name__}: {str(err).splitlines()[0]}); use a "
                "ResNet (registered, tv: or timm:) or another traceable model"
            ) from None
        with torch.no_grad():
            self.body.eval()
            probe = self.body(torch.zeros(1, in_channels, PROBE_SIZE, PROBE_SIZE))
            self.body.train()
        self.channels = {tap: int(probe[tap].shape[1]) for tap in self.taps}
        self.strides = {tap: PROBE_SIZE // int(probe[tap].shape[-1]) for tap in self.taps}

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.body(images)

    def load_checkpoint_weights(self, source: str, state: dict[str, Any]) -> WeightsReport:
        """Copy every checkpoint tensor whose name and shape match one of the backbone's."""
        own = self.body.state_dict()
        theirs: dict[str, torch.Tensor] = state["model"]
        fits = {k: v for k, v in theirs.items() if k in own and own[k].shape == v.shape}
        self.body.load_state_dict(fits, strict=False)
        return WeightsReport(
            source=source,
            loaded=tuple(fits),
            missing=tuple(k for k in own if k not in theirs),
            mismatched=tuple(k for k in own if k in theirs and k not in fits),
            unused=tuple(k for k in theirs if k not in own),
        )


def build_backbone(
    name: str,
    in_channels: int,
    taps: Sequence[str] | None = None,
    weights: str | None = None,
    **kwargs: Any,
) -> tuple[Backbone, WeightsReport | None]:
    """A backbone of architecture `name` (options `kwargs`, e.g. torchvision's
    `replace_stride_with_dilation`), holding the weights of checkpoint `weights` when given."""
    try:
        classifier = build_model(name, 1, in_channels, **kwargs)
    except NotImplementedError as err:  # torchvision's BasicBlock: "Dilation > 1 not supported"
        fix = (
            "a ResNet of basic blocks (resnet18/34) cannot dilate its strides: pass --unset "
            "model.backbone_kwargs (undilated, output stride 32) or a bottleneck ResNet, e.g. "
            "--set model.backbone=tv:resnet50"
            if "dilation" in str(err).lower()
            else "change or --unset model.backbone_kwargs"
        )
        raise PatchswapError(
            f"backbone {name} cannot be built with model.backbone_kwargs={kwargs} "
            f"({str(err).splitlines()[0] if str(err) else 'not implemented'}); {fix}"
        ) from None
    backbone = Backbone(classifier, taps or default_taps(classifier, in_channels), in_channels)
    report = load_backbone_weights(backbone, name, weights) if weights is not None else None
    return backbone, report


def load_backbone_weights(backbone: Backbone, name: str, source: str) -> WeightsReport:
    """Load checkpoint `source` into a backbone of architecture `name`.

    A checkpoint of another architecture, or one with a tensor of another shape (a grey stem
    for colour input), is refused with one line: the run would train on a partly random
    backbone while meaning to transfer it.
    """
    state = load_checkpoint(source)
    trained, _ = checkpoint_architecture(state, source)
    if trained != name:
        raise CheckpointError(
            f"checkpoint {source!r} holds a {trained!r} model but the backbone is {name!r}; "
            f"pass --set model.backbone={source} to take the checkpoint's architecture, or "
            f"a {name} checkpoint"
        )
    report = backbone.load_checkpoint_weights(source, state)
    if report.mismatched or not report.loaded:
        what = f"{report.mismatched[0]} has another shape" if report.mismatched else "nothing fit"
        raise CheckpointError(
            f"checkpoint {source!r} does not fit this {name} backbone ({what}; "
            f"{len(report.loaded)} tensors fit); a stem trained on grey images needs "
            "data.grayscale=true, one trained on colour images data.grayscale=false"
        )
    return report
