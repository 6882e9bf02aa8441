"""Relational knowledge distillation (Park et al. 2019) from a pretrained teacher.

On the embeddings (the classifier's inputs): a distance term, smooth-L1 between the pairwise
distance matrices each divided by its mean positive entry, and an angle term, smooth-L1
between the cosines of the angles of all triplets. The teacher side carries no gradient.
`CE + 1 * (25 * L_distance + 50 * L_angle)`: RepDistiller `distiller_zoo/RKD.py`
(`w_d=25, w_a=50`), `scripts/run_cifar_distill.sh` (`--distill rkd -a 0 -b 1`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import Batch, MethodContext
from .teacher_student import FeatureDistillationOptions, Features, TeacherStudent


@dataclass
class RKDOptions(FeatureDistillationOptions):
    distance: float = 25.0  # weight of the distance term
    angle: float = 50.0  # weight of the angle term


def pairwise_distance(embedding: torch.Tensor) -> torch.Tensor:
    """`(B, B)` Euclidean distances, zero diagonal (squared distances clamped at 1e-12)."""
    square = embedding.pow(2).sum(1)
    squared = (square[:, None] + square[None, :] - 2 * embedding @ embedding.t()).clamp(min=1e-12)
    eye = torch.eye(len(embedding), dtype=torch.bool, device=embedding.device)
    return squared.sqrt().masked_fill(eye, 0.0)


def normalized_distance(embedding: torch.Tensor) -> torch.Tensor:
    """Pairwise distances divided by the mean of the positive ones."""
    distance = pairwise_distance(embedding)
    return distance / distance[distance > 0].mean()


def triplet_angles(embedding: torch.Tensor) -> torch.Tensor:
    """Cosines of the angles `e_j - e_i, e_k - e_i` for all `(i, j, k)`, flattened."""
    directions = F.normalize(embedding[None, :, :] - embedding[:, None, :], p=2, dim=2)
    return torch.bmm(directions, directions.transpose(1, 2)).flatten()


def rkd_loss(
    student: torch.Tensor, teacher: torch.Tensor, distance: float, angle: float
) -> torch.Tensor:
    """`distance * L_distance + angle * L_angle` (teacher terms without gradient)."""
    student, teacher = student.flatten(1), teacher.flatten(1).detach()
    loss_d = F.smooth_l1_loss(normalized_distance(student), normalized_distance(teacher))
    loss_a = F.smooth_l1_loss(triplet_angles(student), triplet_angles(teacher))
    return distance * loss_d + angle * loss_a


class RKD(TeacherStudent):
    """Relational KD: match distance and angle structure of the batch's embeddings."""

    name = "rkd"
    Options = RKDOptions

    def __init__(self, model: nn.Module, options: RKDOptions, context: MethodContext) -> None:
        super().__init__(model, options, context)
        self.watch(model, embedding=True)

    def method_loss(self, student: Features, teacher: Features, batch: Batch) -> torch.Tensor:
        return rkd_loss(
            student.embedding, teacher.embedding, self.options.distance, self.options.angle
        )
