"""Reproduction studies: plans of compare grids, evaluations and claims (`patchswap study`)."""

from ..evaluation.run_metrics import EVALUATIONS
from .claims import Verdict, judge
from .plan import Plan, load_plan
from .run import run_study

__all__ = ["EVALUATIONS", "Plan", "Verdict", "judge", "load_plan", "run_study"]
