"""The loss every teacher-student baseline shares: `gamma*CE + alpha*KL_T + beta*L_method`.

This is RepDistiller's `train_student.py` / `helper/loops.py::train_distill` structure: the
student trains on cross-entropy, the temperature-scaled KL to the teacher's predictions
(`KL_T = T^2 KL(softmax(t/T) || softmax(s/T))`, batch mean) and the method's own term on
features that both networks expose through forward hooks. The teacher runs under `no_grad`,
always in eval mode, with frozen parameters (so the trainer keeps it out of the optimizer);
it is a submodule so that it moves to the run's device and is saved with the method's state.
A subclass picks its features with `watch(...)` and computes its term in `method_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import kl_divergence
from .base import Batch, Method, MethodContext, StepOutput
from .features import FeatureTap
from .teacher import load_teacher


def check_distillation_options(options: Any) -> None:
    """Checks every teacher-student method's options share: T > 0, and no weight, count or
    rate negative. Called from the options' `__post_init__`, so a bad value is refused when
    the config is built, before any data or teacher loads."""
    if options.temperature <= 0:
        raise ConfigError(f"method.temperature={options.temperature} must be > 0")
    for field in fields(options):
        value = getattr(options, field.name)
        if isinstance(value, (int, float)) and value < 0:
            raise ConfigError(f"method.{field.name}={value} must be >= 0")


@dataclass
class TeacherStudentOptions:
    teacher: str | None = None  # the teacher's best.pt, last.pt or run folder (required)
    temperature: float = 4.0
    gamma: float = 1.0  # cross-entropy weight
    alpha: float = 0.0  # KL_T weight

    def __post_init__(self) -> None:
        check_distillation_options(self)


@dataclass
class FeatureDistillationOptions(TeacherStudentOptions):
    beta: float = 1.0  # weight of the method's own feature loss


@dataclass
class Features:
    """What one network exposed in a step: tapped stage outputs (in order) and the embedding
    (the classifier's input), as float32 so the losses never run in reduced precision."""

    maps: list[torch.Tensor]
    embedding: torch.Tensor | None


class _Watch:
    """Forward-hook taps on one network; `take()` hands over the last step's features."""

    def __init__(
        self, model: nn.Module, names: Sequence[str], embedding: bool, training_only: bool
    ) -> None:
        self.names = list(names)
        self.tap = FeatureTap(model, self.names, embedding=embedding, training_only=training_only)

    def take(self) -> Features:
        maps = [f.float() for f in self.tap.features(self.names)]
        embedding = self.tap.embedding.float() if self.tap.embedding is not None else None
        self.tap.outputs.clear()  # do not keep the step's activations alive
        self.tap.embedding = None
        return Features(maps, embedding)


class TeacherStudent(Method):
    """Base of the teacher-student methods; subclasses set `name`, `Options`, defaults."""

    Options = TeacherStudentOptions

    def __init__(self, model: nn.Module, options: Any, context: MethodContext) -> None:
        super().__init__(model, options, context)
        # Checked here, not in the options: `patchswap list methods` shows the defaults, which
        # name no teacher.
        if not options.teacher:
            raise ConfigError(
                f"method {self.name!r} needs method.teacher=PATH (a teacher's best.pt or run "
                "folder); train one with `patchswap train RECIPE`"
            )
        self.teacher = load_teacher(options.teacher, context)
        self._watches: tuple[_Watch, _Watch] | None = None

    def watch(
        self,
        student: nn.Module,
        student_stages: Sequence[str] = (),
        teacher_stages: Sequence[str] = (),
        embedding: bool = False,
    ) -> None:
        """Tap these stage outputs (and the embeddings) of both networks for `method_loss`."""
        self._watches = (
            _Watch(student, student_stages, embedding, training_only=True),
            _Watch(self.teacher, teacher_stages, embedding, training_only=False),
        )

    @property
    def ce_weight(self) -> float:
        return self.options.gamma

    @property
    def kd_weight(self) -> float:
        """Weight of `KL_T`."""
        return self.options.alpha

    def method_loss(self, student: Features, teacher: Features, batch: Batch) -> torch.Tensor:
        """The unweighted `L_method` (only called for methods that `watch` features)."""
        raise NotImplementedError

    def train(self, mode: bool = True) -> TeacherStudent:
        super().train(mode)
        self.teacher.eval()  # batch-norm statistics and dropout of the teacher stay fixed
        return self

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        logits = model(batch.images)
        with torch.no_grad():
            teacher_logits = self.teacher(batch.images)
        losses = {"ce": self.ce_weight * F.cross_entropy(logits.float(), batch.targets)}
        if self.kd_weight:
            t = self.options.temperature
            losses["kd"] = self.kd_weight * t * t * kl_divergence(teacher_logits, logits, t)
        if self._watches is not None:
            student, teacher = (w.take() for w in self._watches)
            with torch.autocast(logits.device.type, enabled=False):
                term = self.method_loss(student, teacher, batch)
            losses[self.name] = self.options.beta * term
        return StepOutput(losses, logits, batch.targets)
