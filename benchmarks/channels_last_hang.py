"""Diagnostic: which conv shapes never finish their backward pass in channels_last on CPU.

Runs fwd + bwd of one `Conv2d` per shape (kernel 1/3, stride 1/2, 1-16 input and 4-64 output
channels, batch 16 of 28x28) in a forked child and lists the shapes still running after 5 s.
With torch 2.14.1 on this 2-core VM, 11 of 200 shapes hung: all strided 1x1 convolutions with
2-5 input channels (oneDNN `jit_avx2_1x1_convolution_bwd_weights`), which is why
`channels_last: auto` avoids models that have one (`patchswap.engine.precision.memory_format`).

    python benchmarks/channels_last_hang.py
"""

from __future__ import annotations

import itertools
import multiprocessing

import torch


def backward(kernel: int, stride: int, cin: int, cout: int) -> None:
    conv = torch.nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
    conv = conv.to(memory_format=torch.channels_last)
    x = torch.randn(16, cin, 28, 28).contiguous(memory_format=torch.channels_last)
    for _ in range(3):
        conv(x.requires_grad_()).sum().backward()


def main() -> None:
    fork = multiprocessing.get_context("fork")  # children share the imported torch: fast
    shapes = itertools.product((1, 3), (1, 2), (1, 2, 3, 4, 5, 6, 7, 8, 12, 16), (4, 8, 16, 32, 64))
    hung = []
    for shape in shapes:
        child = fork.Process(target=backward, args=shape)
        child.start()
        child.join(5)
        if child.is_alive():
            child.kill()
            hung.append(shape)
            kernel, stride, cin, cout = shape
            print(f"hangs: kernel {kernel} stride {stride}, {cin} -> {cout} channels", flush=True)
    print(f"{len(hung)} of 200 shapes hang, torch {torch.__version__}")


if __name__ == "__main__":
    main()
