"""Collectives for code that runs inside a training step (methods) as well as in the engine.

Methods that keep state across steps (CRD memory banks, FER per-sample memory, OLS soft
labels) must apply the whole global batch under `torchrun`, so that every process holds the
same state. Every function here is a no-op without an initialized process group, so the same
method runs unchanged in a single process. This module imports nothing from `patchswap`:
methods and the engine both depend on it, never the other way round.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    """Whether a process group is initialized (a `torchrun` job of any size)."""
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor in place over all processes and return it (identity when not distributed)."""
    if is_distributed():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_gather(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each tensor concatenated along dim 0 over all processes in rank order; the tensors as
    they are when not distributed.

    Shards may differ in length (they are padded for the exchange and trimmed after). The
    result carries no gradient: it feeds state updates, not losses.
    """
    if not is_distributed():
        return tensors
    world = dist.get_world_size()
    device = tensors[0].device
    lengths = torch.tensor([len(t) for t in tensors], device=device)
    every = [torch.empty_like(lengths) for _ in range(world)]
    dist.all_gather(every, lengths)
    sizes = torch.stack(every).tolist()  # (world, len(tensors))
    gathered = []
    for i, tensor in enumerate(tensors):
        longest = max(row[i] for row in sizes)
        padded = tensor.detach().new_zeros((longest, *tensor.shape[1:]))
        padded[: len(tensor)] = tensor.detach()
        shards = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(shards, padded)
        gathered.append(torch.cat([shard[: row[i]] for shard, row in zip(shards, sizes)]))
    return tuple(gathered)


@torch.no_grad()
def broadcast_state(module: nn.Module, src: int = 0) -> None:
    """Copy rank `src`'s parameters and buffers into every process's `module`.

    Processes are seeded differently (they draw different augmentations), so a module built
    in each of them starts with different random values: a method's heads or memory banks
    would then never agree.
    """
    _broadcast([*module.parameters(), *module.buffers()], src)


@torch.no_grad()
def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Copy rank `src`'s buffers (batch-norm statistics) into every process's `module`.

    DDP syncs buffers at the start of each forward, so after the last step every process
    holds slightly different running statistics; evaluation must use the saved (rank 0) ones.
    """
    _broadcast(list(module.buffers()), src)


def _broadcast(tensors: list[torch.Tensor], src: int) -> None:
    """Broadcast in place; NCCL needs CUDA tensors, so CPU ones travel through the current
    CUDA device there."""
    if not is_distributed():
        return
    nccl = dist.get_backend() == "nccl"
    for tensor in tensors:
        if nccl and tensor.device.type != "cuda":
            staged = tensor.to(torch.device("cuda", torch.cuda.current_device()))
            dist.broadcast(staged, src=src)
            tensor.copy_(staged)
        else:
            dist.broadcast(tensor, src=src)
