"""Command line: `patchswap train | eval | demo | list`.

User errors (bad recipe keys, unknown names, missing data) print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .errors import PatchswapError


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value by its dotted key, e.g. --set optim.lr=0.1 "
        "--set method.p=0.3 (repeatable; values are parsed as YAML)",
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .engine import train
    from .recipes import find_recipe

    if args.resume is not None:
        summary = train(None, resume=args.resume, overrides=args.overrides, quiet=args.quiet)
    else:
        if args.recipe is None:
            raise PatchswapError(
                "train needs a RECIPE (see `patchswap list recipes`) or --resume RUN"
            )
        summary = train(load_config(find_recipe(args.recipe), args.overrides), quiet=args.quiet)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    print(
        f"best top1 {summary['best_top1']:.2f} (epoch {summary['best_epoch']}) | "
        f"last top1 {summary['last_top1']:.2f} top5 {summary['last_top5']:.2f}"
    )
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate_checkpoint import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.overrides, split=args.split)
    print(
        " | ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()
        )
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_dir=args.output_dir, overrides=args.overrides)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    if args.what == "methods":
        from .methods import METHODS

        rows = {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in METHODS.items()}
    elif args.what == "models":
        from .models import available_models

        rows = {name: "" for name in available_models()}
        rows["tv:<name>"] = "any torchvision classification model, e.g. tv:resnet50"
        rows["timm:<name>"] = "any timm model, e.g. timm:mvitv2_tiny (pip install timm)"
    elif args.what == "datasets":
        from .data import available_datasets

        rows = available_datasets()
    else:
        from .recipes import list_recipes

        rows = list_recipes()
    width = max(map(len, rows), default=0)
    for name, about in sorted(rows.items()):
        print(f"{name:<{width}}  {about}".rstrip())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="patchswap",
        description="Teacher-free self-distillation with intra-class patch swap.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="train a recipe (or resume a run)",
        description="Train a YAML recipe; writes a run folder under "
        "output_dir/name with metrics, TensorBoard events and "
        "checkpoints.",
    )
    train.add_argument(
        "recipe", nargs="?", help="YAML path or recipe name, e.g. fashion_mnist/patchswap"
    )
    _add_overrides(train)
    train.add_argument(
        "--resume",
        metavar="RUN",
        help="continue the run in this folder (or its last.pt); --set applies "
        "on top of the run's saved config",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser(
        "eval",
        help="evaluate a checkpoint (top-1, top-5, loss)",
        description="Plain forward pass over the test (or train) split of the "
        "checkpoint's own dataset.",
    )
    ev.add_argument("checkpoint", help="a run folder, last.pt or best.pt")
    ev.add_argument("--split", choices=["test", "train"], default="test")
    _add_overrides(ev)
    ev.set_defaults(func=_cmd_eval)

    demo = sub.add_parser(
        "demo",
        help="hard label vs patch swap on Fashion-MNIST, side by side",
        description="Trains hard label and patch swap with the same small "
        "model, budget and seed (recipe fashion_mnist/demo), "
        "prints a table and saves an accuracy plot.",
    )
    demo.add_argument("--output-dir", default="runs/demo", help="parent folder of the demo runs")
    _add_overrides(demo)
    demo.set_defaults(func=_cmd_demo)

    lst = sub.add_parser("list", help="list methods, models, datasets or recipes")
    lst.add_argument("what", choices=["methods", "models", "datasets", "recipes"])
    lst.set_defaults(func=_cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PatchswapError as err:
        print(f"patchswap: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
