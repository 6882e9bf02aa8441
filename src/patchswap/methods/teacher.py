"""Loading a pretrained teacher from a checkpoint that this project's trainer wrote.

Teacher-student baselines (KD, AT, SP, RKD, CRD) and TF-KD self need a trained network. The
checkpoint's own saved config names the architecture, so a method only needs the path; the
teacher must predict the run's classes from the run's input channels.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..checkpoint import load_checkpoint, rebuild_model
from ..errors import CheckpointError, ConfigError
from .base import MethodContext
from .features import classifier_of

_HOW_TO_TRAIN = (
    "train one with `patchswap train RECIPE` (e.g. `patchswap train cifar100/resnet50_hard_label`) "
    "and pass its run folder or best.pt"
)


def teacher_file(path: str | Path) -> Path:
    """The checkpoint a `method.teacher` value names: a file, or a run folder's best.pt."""
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt" if (path / "best.pt").is_file() else path / "last.pt"
    if not path.is_file():
        raise ConfigError(f"method.teacher={str(path)!r} does not exist; {_HOW_TO_TRAIN}")
    return path


def _check_fits(teacher: nn.Module, weights: dict, context: MethodContext, source: str) -> None:
    """A teacher for other classes or other input channels is a user error, named as such."""
    head, _ = classifier_of(teacher)
    classes = weights.get(f"{head}.weight")
    if classes is not None and classes.shape[0] != context.num_classes:
        raise CheckpointError(
            f"teacher {source!r} predicts {classes.shape[0]} classes but this run has "
            f"{context.num_classes}; use a teacher trained on the same dataset"
        )
    first_conv = next((n for n, p in teacher.named_parameters() if p.dim() == 4), None)
    channels = weights.get(first_conv) if first_conv is not None else None
    if channels is not None and channels.shape[1] != context.in_channels:
        raise CheckpointError(
            f"teacher {source!r} takes {channels.shape[1]}-channel images but this run has "
            f"{context.in_channels}; use a teacher trained on the same dataset"
        )


def load_teacher(path: str | Path, context: MethodContext) -> nn.Module:
    """Rebuild the teacher named by a best.pt / last.pt / run folder, frozen and in eval mode.

    Loading uses `weights_only=True`, so a checkpoint cannot execute code.
    """
    source = str(teacher_file(path))
    teacher = rebuild_model(
        load_checkpoint(source),
        source,
        context.num_classes,
        context.in_channels,
        lambda model, weights: _check_fits(model, weights, context, source),
    )
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher
