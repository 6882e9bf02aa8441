"""`patchswap evaluate`: the paper's evaluation suite on any checkpoint of the trainer.

Parts (`--suite`): `accuracy` (top-1, top-5, NLL), `calibration` (AURC, E-AURC, FPR at 95% TPR,
ECE, Brier; reliability diagram), `adversarial` (FGSM and I-FGSM accuracy per epsilon),
`corruption` (accuracy per corruption and mean, on the released CIFAR-C files or a generated
set) and `analysis` (train/test gap, predictive distribution, Grad-CAM, conv gradients, and the
pair statistics when the run logged them). Writes `results.json` (raw values: accuracies as
fractions, `scales` gives the report multipliers), `report.md` and PNG plots into one folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..checkpoint import load_checkpoint, rebuild_model
from ..config import RunConfig
from ..data import DataBundle, build_datasets
from ..engine.accuracy import collect_logits
from ..engine.device import resolve_device
from ..engine.loaders import build_eval_loader
from ..engine.precision import memory_format
from ..engine.run_log import read_metrics
from ..engine.step_stats import KD_GRADIENT_KEY
from ..errors import CheckpointError, ConfigError, PatchswapError, unknown_name
from ..infra.atomic_files import atomic_write_text, check_writable_folder
from ..runs import saved_config
from ..scores import task_of
from . import analysis, plots
from .attacks import DEFAULT_EPSILONS, DEFAULT_IFGSM_STEPS, attack_accuracy, check_epsilons
from .corruption_sets import evaluate_corruptions, generate_corrupted_set, generated_set_folder
from .corruptions import CORRUPTIONS, SEVERITIES, check_corruption_args
from .gradcam import grad_cam, overlay
from .metric_table import REPORT_SCALES
from .metrics import (
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from .pixels import Normalized, pixel_batches, uint8_images
from .report import render_report

# bump when a metric changes or is added, so cached results (run_metrics) are made again
SUITE_VERSION = 2
SUITES = ("accuracy", "calibration", "adversarial", "corruption", "analysis")
DEFAULT_SUITES = ("accuracy", "calibration", "adversarial", "corruption")
GRAD_CAM_IMAGES = 8


@dataclass
class SuiteOptions:
    """What to run; defaults are the paper's settings (see each module for the sources)."""

    suites: Sequence[str] = DEFAULT_SUITES
    epsilons: Sequence[float] = DEFAULT_EPSILONS
    attack_steps: int = DEFAULT_IFGSM_STEPS
    corruptions: Sequence[str] = CORRUPTIONS
    severities: Sequence[int] = SEVERITIES
    corruption_root: str | None = None  # released CIFAR-C folder; None generates a set
    corruption_seed: int = 0
    bins: int = 15

    def check(self) -> None:
        for name in self.suites:
            if name not in SUITES:
                raise unknown_name("suite", name, list(SUITES))
        check_epsilons(self.epsilons)
        released = self.corruption_root is not None
        check_corruption_args(self.corruptions, self.severities, released)
        if self.attack_steps < 1:
            raise PatchswapError(f"--attack-steps {self.attack_steps} must be >= 1, e.g. 10")
        if self.bins < 1:
            raise PatchswapError(f"--bins {self.bins} must be >= 1, e.g. 15")


def parse_suites(text: str) -> tuple[str, ...]:
    """`"accuracy,calibration"` -> ("accuracy", "calibration"); `all` is every part."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    return SUITES if names == ("all",) else names


@dataclass
class Evaluated:
    """A checkpoint rebuilt from its saved config: the model in eval mode and its data."""

    path: Path
    epoch: int
    cfg: RunConfig
    data: DataBundle
    model: torch.nn.Module
    device: torch.device
    memory_format: torch.memory_format  # the model's layout, for its input images


def load_for_evaluation(path: str | Path, overrides: Sequence[str] = ()) -> Evaluated:
    """Rebuild the model and data of a `last.pt`, `best.pt` or run folder (`overrides` change
    the saved config first, e.g. `data.root=...`, `device=cpu`, `data.test_subset=1000`)."""
    state = load_checkpoint(path)
    task = task_of(state["config"])
    if task != "classification":
        raise CheckpointError(
            f"{str(path)!r} is a {task} run: eval and evaluate score classifiers; its test "
            "scores per epoch are in its metrics.jsonl and summary.json"
        )
    _check_overrides(overrides)
    cfg = saved_config(state, overrides)
    device = resolve_device(cfg.device)
    data = build_datasets(cfg.data)
    model = rebuild_model(state, str(path), data.num_classes, data.in_channels)
    layout = memory_format(cfg.channels_last, device, model)
    model.to(device, memory_format=layout)
    return Evaluated(Path(path), state["epoch"], cfg, data, model.eval(), device, layout)


# The model is rebuilt as trained, and the held-out split must be the one the run set aside:
# changing these would fit the temperature on training images, or evaluate another model.
FIXED_AT_TRAINING = (
    "model.",
    "data.holdout_per_class",
    "data.samples_per_class",
    "data.subset_seed",
)


def _check_overrides(overrides: Sequence[str]) -> None:
    for override in overrides:
        key = override.split("=", 1)[0].strip()
        if key == "model" or key.startswith(FIXED_AT_TRAINING):
            raise ConfigError(
                f"--set {override}: {key} is fixed by the checkpoint (the model as trained, the "
                "images it never trained on); evaluate takes data.root, data.test_subset, device "
                "and the like"
            )


def default_output(checkpoint: str | Path) -> Path:
    """`<run folder>/evaluation-<checkpoint name>`, e.g. runs/x/evaluation-best."""
    path = Path(checkpoint)
    if path.is_dir():
        return path / "evaluation-last"
    return path.parent / f"evaluation-{path.stem}"


def _loader(run: Evaluated, dataset: Dataset) -> DataLoader:
    cfg = run.cfg
    return build_eval_loader(
        dataset, cfg.eval_batch_size, cfg.data.num_workers, run.device.type == "cuda"
    )


def _corruption(
    run: Evaluated, wrapper: Normalized, options: SuiteOptions, say: Callable[[str], None]
) -> dict:
    data, cfg = run.data, run.cfg
    if options.corruption_root is not None:
        root, source, about = Path(options.corruption_root), "released", {}
    else:
        images, labels = uint8_images(_loader(run, data.test), wrapper)
        size = "x".join(map(str, images.shape[1:]))
        root = generated_set_folder(
            images, labels, options.corruption_seed, f"{cfg.data.name}-{size}"
        )
        say(f"corruption: generating / reusing {root}")
        generate_corrupted_set(images, labels, root, options.corruption_seed, options.corruptions)
        source, about = "generated", {"seed": options.corruption_seed}
    result = evaluate_corruptions(
        wrapper,
        root,
        options.corruptions,
        options.severities,
        input_shape=(data.in_channels, *data.image_size),
        limit=cfg.data.test_subset if source == "released" else None,
        batch_size=cfg.eval_batch_size,
        device=run.device,
    )
    return {"source": source, "folder": str(root), **about, **result}


def _temperature_scaled(
    run: Evaluated, logits: torch.Tensor, labels: np.ndarray, bins: int
) -> dict[str, Any]:
    """ECE after post-hoc temperature scaling, T fitted on the run's held-out training images
    (`data.holdout_per_class`); None where the run held none out (fitting T on images the
    model trained on, or on the test set, would flatter it)."""
    if run.data.holdout is None:
        return {"temperature": None, "ece_scaled": None, "holdout": 0}
    held_logits, held_labels = collect_logits(run.model, _loader(run, run.data.holdout), run.device)
    temperature = fit_temperature(held_logits.numpy(), held_labels.numpy())
    scaled = softmax(logits.double() / temperature)
    return {
        "temperature": temperature,
        "ece_scaled": expected_calibration_error(scaled, labels, bins),
        "holdout": len(held_labels),
    }


def _analysis(run: Evaluated, probs: np.ndarray, labels: np.ndarray, out: Path) -> dict:
    data, model, device = run.data, run.model, run.device
    result: dict[str, Any] = {"plots": {}}
    gap = analysis.train_test_gap(
        model, _loader(run, data.train_eval), _loader(run, data.test), device
    )
    result["train_test_gap"] = gap
    result["plots"]["train_test_gap"] = plots.plot_train_test_gap(
        {run.cfg.model.name: gap}, out / "train_test_gap.png"
    ).name

    errors = np.bincount(labels[probs.argmax(axis=1) != labels], minlength=data.num_classes)
    distribution = analysis.predictive_distribution(
        probs, labels, int(errors.argmax()), data.class_names
    )
    result["predictive_distribution"] = distribution
    result["plots"]["predictive_distribution"] = plots.plot_predictive_distribution(
        distribution, out / "predictive_distribution.png"
    ).name

    firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)][:GRAD_CAM_IMAGES]
    images = torch.stack([data.test[i][0] for i in firsts]).to(device)
    maps = grad_cam(model, images, labels[firsts].tolist(), data.in_channels, data.image_size)
    wrapper = Normalized(model, data.mean, data.std).to(device)
    pixels = wrapper.to_pixels(images).permute(0, 2, 3, 1).cpu().numpy()
    titles = [
        f"{data.class_names[labels[i]]} -> {data.class_names[probs[i].argmax()]}" for i in firsts
    ]
    result["plots"]["grad_cam"] = plots.plot_grad_cam(
        overlay(pixels, maps), titles, out / "grad_cam.png"
    ).name

    batch = next(iter(_loader(run, Subset(data.train_eval, range(min(256, len(data.train_eval)))))))
    gradients = analysis.conv_gradients_on_batch(model, batch[0].to(device), batch[1].to(device))
    result["conv_gradients"] = gradients
    result["plots"]["conv_gradients"] = plots.plot_conv_gradients(
        {run.cfg.model.name: gradients}, out / "conv_gradients.png"
    ).name

    folder = run.path if run.path.is_dir() else run.path.parent
    records = read_metrics(folder) if (folder / "metrics.jsonl").is_file() else []
    if any(KD_GRADIENT_KEY in r for r in records):
        result["plots"]["pair_statistics"] = plots.plot_pair_statistics(
            {run.cfg.method["name"]: records}, out / "pair_statistics.png"
        ).name
    return result


def run_suite(
    checkpoint: str | Path,
    options: SuiteOptions | None = None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the chosen parts on `checkpoint`; write results.json, report.md and plots to `out`
    (default `default_output(checkpoint)`); return the results (also in results.json)."""
    options = options or SuiteOptions()
    options.check()
    if out is not None:  # checked before the model and data are built
        out = check_writable_folder(out, "--out")
    run = load_for_evaluation(checkpoint, overrides)
    out = out or check_writable_folder(default_output(checkpoint), "--out")
    data, cfg = run.data, run.cfg
    results: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "suite_version": SUITE_VERSION,
        "epoch": run.epoch,
        "method": cfg.method["name"],
        "model": cfg.model.name,
        "dataset": cfg.data.name,
        "test_samples": len(data.test),
        "overrides": list(overrides),
        "device": str(run.device),
        "output": str(out),
        "suites": list(options.suites),
        "scales": REPORT_SCALES,
        "plots": {},
        "seconds": {},
    }
    wrapper = Normalized(run.model, data.mean, data.std).to(run.device)
    started = time.perf_counter()
    logits, labels = collect_logits(run.model, _loader(run, data.test), run.device)
    probs, labels = softmax(logits), labels.numpy()
    metrics = classification_metrics(logits, labels, options.bins)
    results["seconds"]["predict"] = time.perf_counter() - started
    if "accuracy" in options.suites:
        results["accuracy"] = {k: metrics[k] for k in ("top1", "top5", "nll")}
    if "calibration" in options.suites:
        results["calibration"] = {
            k: metrics[k] for k in ("aurc", "eaurc", "fpr95", "aupr_error", "ece", "brier")
        } | {"bins": options.bins}
        results["calibration"] |= _temperature_scaled(run, logits, labels, options.bins)
        plots.plot_reliability_diagram(probs, labels, out / "reliability.png", options.bins)
        results["plots"]["reliability"] = "reliability.png"
    if "adversarial" in options.suites:
        started = time.perf_counter()
        say(
            f"adversarial: FGSM and I-FGSM ({options.attack_steps} steps) "
            f"at eps {list(options.epsilons)}"
        )
        accuracy = attack_accuracy(
            wrapper,
            pixel_batches(_loader(run, data.test), wrapper, run.device),
            options.epsilons,
            options.attack_steps,
        )
        results["adversarial"] = {"steps": options.attack_steps, **accuracy}
        plots.plot_attack_accuracy(accuracy, out / "adversarial.png")
        results["plots"]["adversarial"] = "adversarial.png"
        results["seconds"]["adversarial"] = time.perf_counter() - started
    if "corruption" in options.suites:
        started = time.perf_counter()
        results["corruption"] = _corruption(run, wrapper, options, say)
        plots.plot_corruption_accuracy(
            results["corruption"], out / "corruption.png", metrics["top1"]
        )
        results["plots"]["corruption"] = "corruption.png"
        results["seconds"]["corruption"] = time.perf_counter() - started
    if "analysis" in options.suites:
        started = time.perf_counter()
        results["analysis"] = _analysis(run, probs, labels, out)
        results["plots"].update(results["analysis"].pop("plots"))
        results["seconds"]["analysis"] = time.perf_counter() - started
    results = json.loads(json.dumps(_json_safe(results)))  # the form results.json holds
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "report.md", render_report(results))
    return results


def _json_safe(value: Any) -> Any:
    """NaN (an undefined metric, e.g. FPR when every sample is correct) as null; epsilon and
    severity keys as strings ("0.001", "5")."""
    if isinstance(value, dict):
        return {
            f"{k:g}" if isinstance(k, float) else str(k): _json_safe(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value
