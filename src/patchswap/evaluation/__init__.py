"""Evaluation: a single plain forward pass (no pairs, no swap)."""

from .accuracy import evaluate, topk_correct

__all__ = ["evaluate", "topk_correct"]
