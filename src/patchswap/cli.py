"""Command line: `patchswap train | eval | evaluate | compare | study | demo | list`.

User errors (bad recipe keys, unknown names, missing data) print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .errors import PatchswapError


def _add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="cells trained at once, each in a process of its own (default 1); on CPU the "
        "cores are divided between them, with --gpus each gets a GPU",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads of every cell (default: the cores divided between the jobs); a "
        "cell's floats depend on it, so fix it to get the same tables with any --jobs",
    )
    parser.add_argument(
        "--gpus",
        default=None,
        metavar="0,1,...",
        help="GPUs to spread the cells over, one per job (CUDA_VISIBLE_DEVICES per cell)",
    )
    parser.add_argument(
        "--executor",
        default="local",
        metavar="{local,slurm}",
        help="where the cells run: local (processes here, the default) or slurm (one job per "
        "cell, a job array, through submitit: pip install patchswap[slurm]); submitit-local "
        "runs the job path on this machine",
    )
    parser.add_argument(
        "--executor-config",
        metavar="YAML",
        help="executor settings: partition, time (minutes), gpus_per_cell, cpus_per_cell, "
        "account, sbatch (a mapping of extra sbatch options), array_parallelism; over a "
        "plan's executor: block key by key",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="with --executor slurm: submit and return; run the same command again to collect",
    )


def _workers(args: argparse.Namespace, plan_settings: dict | None = None):
    """The workers the grid options ask for, checked (one line) before anything runs."""
    from .errors import ConfigError
    from .parallel import Workers, parse_gpus

    settings: dict = {}
    if args.executor_config:
        from .slurm import load_settings

        if args.executor == "local":
            raise ConfigError("--executor-config applies to --executor slurm; add it or drop it")
        settings = load_settings(args.executor_config)
    if args.executor != "local":
        settings = {**(plan_settings or {}), **settings}  # the file's keys win
    workers = Workers(
        args.jobs, parse_gpus(args.gpus), args.executor, settings, not args.no_wait, args.threads
    )
    workers.check()
    return workers


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value by its dotted key, e.g. --set optim.lr=0.1 "
        "--set method.p=0.3 (repeatable; values are parsed as YAML; a mapping given merges "
        "into the recipe's)",
    )
    parser.add_argument(
        "--unset",
        dest="overrides",
        action=_UnsetAction,
        metavar="KEY",
        help="remove a key from the recipe so that its default applies, e.g. --unset "
        "model.backbone_kwargs (repeatable; applied in order with --set, so --unset KEY "
        "--set KEY.a=1 replaces a mapping)",
    )


class _UnsetAction(argparse.Action):
    """`--unset KEY`: appends `KEY=!unset` to the `--set` list, so that every command taking
    overrides, and every check of their keys, handles it in order with them."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from .config import unset_override

        try:
            text = unset_override(str(values))
        except PatchswapError as err:
            raise argparse.ArgumentError(self, str(err)) from None
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), text])


def _cmd_train(args: argparse.Namespace) -> int:
    from .recipes import find_recipe
    from .runs import load_config, train

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
    print(summary_line(summary))
    return 0


def summary_line(summary: dict) -> str:
    """A run's result in one line, in its task's scores (top-1, mIoU or VOC07 mAP)."""
    from .scores import TASK_SCORES, task_of

    scores = TASK_SCORES[task_of(summary)]
    name = scores.primary
    line = (
        f"best {name} {summary[f'best_{name}']:.2f} (epoch {summary['best_epoch']}) | "
        f"last {name} {summary[f'last_{name}']:.2f}"
    )
    if scores.secondary:
        line += f" {scores.secondary} {summary[f'last_{scores.secondary}']:.2f}"
    return line


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate_checkpoint import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.overrides, split=args.split)
    print(
        " | ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()
        )
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.report import render_report
    from .evaluation.suite import SuiteOptions, parse_suites, run_suite

    given = {
        "epsilons": args.eps,
        "attack_steps": args.attack_steps,
        "corruptions": args.corruptions,
        "severities": args.severities,
        "corruption_seed": args.corruption_seed,
        "bins": args.bins,
    }
    options = SuiteOptions(
        suites=parse_suites(args.suite),
        corruption_root=args.corruption_root,
        **{key: value for key, value in given.items() if value is not None},
    )
    results = run_suite(args.checkpoint, options, args.out, args.overrides)
    print(f"\n{render_report(results, with_plots=False)}")
    print(f"saved to {results['output']}: results.json, report.md and PNG plots")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_dir=args.output_dir, overrides=args.overrides)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare.command import compare
    from .compare.grid import default_output_dir

    folder = args.output_dir or default_output_dir(args.recipes, args.sweep)
    evaluations = [e for e in (args.evaluate or "").split(",") if e]
    workers = _workers(args)
    _, table = compare(
        args.recipes,
        args.seeds,
        args.sweep,
        args.overrides,
        folder,
        args.quiet,
        evaluations,
        workers,
    )
    print(f"\n{table}\nsaved to {folder}/results.md, results.csv, results.json")
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .recipes import find_plan
    from .study import load_plan, render_study, run_study

    readme = Path(args.readme) if args.readme else None
    if args.render:
        if args.plan is not None:
            raise PatchswapError("--render re-renders every published plan; give no PLAN")
        render_study(Path(args.docs_dir), Path(args.output_dir), readme)
        return 0
    if args.plan is None:
        raise PatchswapError("study needs a PLAN (see `patchswap list plans`) or --render")
    plan = load_plan(find_plan(args.plan), Path(args.output_dir))
    workers = _workers(args, plan.executor)
    if args.save_cells or args.restore_cells:
        from .study.cells import restore_cells, save_cells

        if args.save_cells:
            count = save_cells(plan, Path(args.save_cells))
            print(f"saved {count} finished cells of {plan.name} to {args.save_cells}")
        else:
            count = restore_cells(plan, Path(args.restore_cells))
            print(f"restored {count} cells of {plan.name} into {plan.cells_dir}")
        return 0
    run_study(plan, Path(args.docs_dir), quiet=args.quiet, readme=readme, workers=workers)
    return 0


def _cmd_scenes(args: argparse.Namespace) -> int:
    import time

    from .dense.datasets.scenes import write_scenes

    start = time.perf_counter()
    devkit = write_scenes(
        args.root,
        args.fashion_mnist,
        train=args.train,
        val=args.val,
        test=args.test,
        seed=args.seed,
        size=args.size,
    )
    print(f"scenes in {devkit} ({time.perf_counter() - start:.1f} s)")
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
    elif args.what == "plans":
        from .recipes import find_plan, list_plans
        from .study.plan import plan_title

        rows = {name: plan_title(find_plan(name)) for name in list_plans()}
    else:
        from .recipes import list_recipes

        rows = list_recipes()
    width = max(map(len, rows), default=0)
    for name, about in sorted(rows.items()):
        print(f"{name:<{width}}  {about}".rstrip())
    return 0


def _version() -> str:
    from . import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="patchswap",
        description="Teacher-free self-distillation with intra-class patch swap.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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

    evs = sub.add_parser(
        "evaluate",
        help="the paper's evaluation suite: calibration, attacks, corruptions, analyses",
        description="Runs the chosen parts on a checkpoint and writes results.json, report.md "
        "(Table 10 columns, Table 12 rows, Table 11 columns) and PNG plots into --out. "
        "Without --corruption-root, corrupted test sets are generated and cached: they are not "
        "the released CIFAR-C and their numbers are not comparable to the paper's.",
    )
    evs.add_argument("checkpoint", help="a run folder, last.pt or best.pt")
    evs.add_argument(
        "--suite",
        default="accuracy,calibration,adversarial,corruption",
        help="comma-separated parts: accuracy, calibration, adversarial, corruption, analysis "
        "(or all); default: the first four",
    )
    evs.add_argument("--out", help="output folder (default: <run>/evaluation-<checkpoint>)")
    evs.add_argument(
        "--corruption-root",
        metavar="DIR",
        help="folder of the released CIFAR-10-C/100-C files (<corruption>.npy, labels.npy)",
    )
    evs.add_argument(
        "--eps",
        nargs="+",
        type=float,
        help="attack epsilons in [0, 1] pixel units (default: 0 0.001 0.003 0.005 0.01 0.05)",
    )
    evs.add_argument("--attack-steps", type=int, help="I-FGSM steps of eps/steps (default: 10)")
    evs.add_argument("--severities", nargs="+", type=int, help="corruption severities (1-5)")
    evs.add_argument(
        "--corruptions",
        nargs="+",
        help="corruption names (default: Table 11's ten); with --corruption-root also the "
        "released sets' others: gaussian_noise shot_noise impulse_noise speckle_noise zoom_blur "
        "pixelate jpeg_compression spatter saturate",
    )
    evs.add_argument("--corruption-seed", type=int, help="seed of generated sets (default: 0)")
    evs.add_argument("--bins", type=int, help="ECE bins (default: 15)")
    _add_overrides(evs)
    evs.set_defaults(func=_cmd_evaluate)

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

    cmp = sub.add_parser(
        "compare",
        help="train recipes x seeds (x a swept option) and print the paper-style table",
        description="Runs every cell of the grid in its own run folder under --output-dir "
        "(finished cells are kept, interrupted ones resume), then writes results.md/.csv/.json: "
        "the task's score (top-1, mIoU or VOC07 mAP) mean ± std over seeds (best and last "
        "epoch), last top-5 or pixel accuracy, gap to the reference row (the hard-label row, with "
        "a sweep and no hard label the first row; dense tasks: the first row) and Welch's t-test "
        "p-value; dense tasks add a per-class IoU or AP table. One compare holds one task.",
    )
    cmp.add_argument("recipes", nargs="+", metavar="RECIPE", help="YAML paths or recipe names")
    cmp.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="default: 0 1 2")
    cmp.add_argument(
        "--sweep",
        metavar="KEY=V1,V2,...",
        help="one row per value, e.g. method.p=0,0.25,0.5, method.grid=2,4 or (dense) "
        "model.backbone=runs/a/last.pt,runs/b/last.pt; a method.* key sweeps only the recipes "
        "whose method has that option; {seed} in a value (or a --set) becomes the cell's seed, "
        "e.g. model.backbone=runs/b/hard_label_seed{seed}/last.pt",
    )
    cmp.add_argument(
        "--output-dir", help="folder of the cells and results (default: runs/compare/<recipes>)"
    )
    cmp.add_argument(
        "--evaluate",
        metavar="E1,E2",
        help="also evaluate every cell's last checkpoint and tabulate mean ± std over seeds: "
        "gap (Table 1), calibration (Table 10), adversarial (Table 12), corruption (Table 11); "
        "results are cached next to each cell; classification only",
    )
    _add_overrides(cmp)
    cmp.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    _add_workers(cmp)
    cmp.set_defaults(func=_cmd_compare)

    study = sub.add_parser(
        "study",
        help="run a reproduction plan and write its page with verdicts",
        description="Trains what is missing of a study plan (groups of recipes x seeds at a "
        "fixed budget; finished cells are reused, interrupted ones resume), evaluates each "
        "cell's last checkpoint, tests the plan's claims (Welch's t-test with its 95% CI, "
        "Holm's correction over each claim's family, the detectable effect: holds / does not "
        "hold / inconclusive) and writes docs/study/<plan>/README.md, results.json, "
        "results.csv and accuracy.png, then the study summary docs/study/README.md. A "
        "confirmatory plan must be committed first; its commit is recorded on the page.",
    )
    study.add_argument(
        "plan", nargs="?", help="a plan name (`patchswap list plans`, e.g. noise) or a YAML path"
    )
    study.add_argument(
        "--render",
        action="store_true",
        help="re-render every published page, the study summary and the README's study block "
        "from the pages' results.json (no training)",
    )
    study.add_argument(
        "--save-cells",
        metavar="DIR",
        help="copy the plan's finished cells, without checkpoints, to DIR (to commit or move "
        "a plan that runs over several sessions or machines); trains nothing",
    )
    study.add_argument(
        "--restore-cells",
        metavar="DIR",
        help="copy cells saved with --save-cells back into --output-dir (never over a file "
        "there); trains nothing: run the plan again to go on",
    )
    study.add_argument(
        "--readme",
        default="README.md",
        help="a README whose study block (between its markers) is regenerated; '' for none",
    )
    study.add_argument("--output-dir", default="runs/study", help="parent folder of the cells")
    study.add_argument("--docs-dir", default="docs/study", help="parent folder of the pages")
    study.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    _add_workers(study)
    study.set_defaults(func=_cmd_study)

    scenes = sub.add_parser(
        "scenes",
        help="write Fashion-MNIST scenes, a dense task in the Pascal VOC layout",
        description="Write Fashion-MNIST scenes in the Pascal VOC layout under ROOT/VOCdevkit "
        "(rules: docs/transfer/README.md).",
    )
    scenes.add_argument("root", help="folder to hold VOCdevkit/")
    scenes.add_argument(
        "--fashion-mnist",
        default=None,
        help="folder with the four Fashion-MNIST idx .gz files (default: the Debian package's)",
    )
    scenes.add_argument("--train", type=int, default=2000, help="training scenes (default 2000)")
    scenes.add_argument("--val", type=int, default=500, help="val scenes (default 500)")
    scenes.add_argument("--test", type=int, default=0, help="VOC07-style test scenes (default 0)")
    scenes.add_argument("--seed", type=int, default=0)
    scenes.add_argument("--size", type=int, default=64, help="canvas side in pixels (default 64)")
    scenes.set_defaults(func=_cmd_scenes)

    lst = sub.add_parser("list", help="list methods, models, datasets, recipes or study plans")
    lst.add_argument("what", choices=["methods", "models", "datasets", "recipes", "plans"])
    lst.set_defaults(func=_cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .claims import CellsSubmitted

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CellsSubmitted as submitted:  # --no-wait: not an error
        print(f"patchswap: {submitted}")
        return 0
    except PatchswapError as err:
        print(f"patchswap: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
