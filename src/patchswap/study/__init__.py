"""Reproduction studies: plans of compare grids, evaluations and claims (`patchswap study`)."""

from ..evaluation.metric_table import EVALUATIONS
from .claims import ClaimResult
from .plan import Plan, load_plan
from .run import run_study
from .summary import render_study

__all__ = ["EVALUATIONS", "ClaimResult", "Plan", "load_plan", "render_study", "run_study"]
