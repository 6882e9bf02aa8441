"""Process-group set-up for `torchrun` and the collectives the trainer needs.

Without `torchrun` (WORLD_SIZE unset or 1) everything here is a no-op, so the same trainer
runs on a laptop CPU, one GPU, or many GPUs. Collectives that methods also call
(`all_reduce_sum`, `broadcast_buffers`) live in the leaf module `patchswap.infra.collectives`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistEnv",
    "all_gather_objects",
    "average_gradients",
    "barrier",
    "init_distributed",
    "shutdown",
]


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(use_cuda: bool) -> DistEnv:
    """Join the process group `torchrun` describes (NCCL on CUDA, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistEnv()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return DistEnv(rank, world_size, local_rank)


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order (`[obj]` when not distributed)."""
    if not dist.is_initialized():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def average_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Average gradients over processes for parameters DDP does not manage (a method's own
    heads and embeddings), so every process applies the same update."""
    if not dist.is_initialized() or not parameters:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    offset = 0
    for parameter in parameters:
        size = parameter.numel()
        parameter.grad = flat[offset : offset + size].view_as(parameter).clone()
        offset += size


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
