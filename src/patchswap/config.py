"""Typed run configuration: YAML recipes with `base:` inheritance and dotted `--set` overrides.

A run is fully described by its resolved config (written to the run folder as `config.yaml`).
Method-specific options live under `method:` next to `method.name`; each method validates its
own options (see `patchswap.methods`), so this module only knows the shared sections. It is
the schema alone and imports nothing above it: the dense tasks' schema (`dense.config`) and
the resolution of a recipe into a run's config (`runs.build_config`) build on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .infra.typed_mappings import build_dataclass


@dataclass
class LabelNoiseConfig:
    """Symmetric label noise on the training set (Wang et al. 2019); rate 0 is clean."""

    rate: float = 0.0
    seed: int = 0


@dataclass
class DataConfig:
    """Which dataset, where it lives, and how training images are augmented."""

    name: str = "fashion_mnist"
    root: str | None = None  # None: the dataset's default location (see `patchswap list datasets`)
    download: bool = False
    samples_per_class: int | None = None  # seeded, class-balanced training subset
    subset_seed: int = 0
    # class-balanced training images set aside before the subset, never trained on; the
    # evaluation suite fits post-hoc temperature scaling on them (Guo et al. 2017)
    holdout_per_class: int | None = None
    augment: bool = True  # the dataset's standard training augmentation (crop + flip)
    crop_padding: int = 4  # padding of the random crop for small-image datasets
    # the horizontal flip of small-image datasets; false with crop_padding > 0 is a random
    # translation of up to crop_padding pixels
    flip: bool = True
    image_size: int = 224  # ImageFolder only: RandomResizedCrop / center-crop size
    num_workers: int = 0
    # auto: device-resident batches for in-memory datasets (CIFAR, Fashion-MNIST) on any device,
    # DataLoader otherwise (ImageFolder); measured faster on CPU too (benchmarks/cpu_path.py)
    loader: str = "auto"  # auto | device | dataloader
    test_subset: int | None = None  # evaluate on the first N test images (quick CPU runs)
    label_noise: LabelNoiseConfig = field(default_factory=LabelNoiseConfig)


@dataclass
class ModelConfig:
    """Architecture name: a CIFAR-style net, `tv:<name>` (torchvision) or `timm:<name>`."""

    name: str = "resnet8"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """SGD, as in every paper setting."""

    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    # lr is tuned for `base_batch_size` anchors per step (the global batch over all processes);
    # `linear` scales it by batch_size / base_batch_size (Goyal et al. 2017), `none` keeps it.
    lr_scaling: str = "none"  # none | linear
    base_batch_size: int = 64


@dataclass
class DistributedConfig:
    """Multi-process training under `torchrun`; ignored in a single process."""

    sync_bn: bool = False  # SyncBatchNorm across processes (CUDA only)


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, evaluated per iteration (warm-up is linear per iteration)."""

    name: str = "multistep"  # multistep | cosine | poly | constant
    milestones: list[int] = field(default_factory=lambda: [150, 180, 210])
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    min_lr: float = 0.0  # cosine only
    power: float = 0.9  # poly only (DeepLab's segmentation schedule)


@dataclass
class RunConfig:
    """Everything a training run needs; the YAML recipe mirrors this tree."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: dict[str, Any] = field(default_factory=lambda: {"name": "patchswap"})
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    epochs: int = 240
    batch_size: int = 64  # anchors per step over all processes; paired methods forward 2x
    eval_batch_size: int = 512
    # Evaluate on the test set every N epochs; the final epoch is always evaluated, and `best`
    # (best.pt, best_top1) is chosen among the evaluated epochs only.
    eval_every: int = 1
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast) | fp16 (autocast + grad scaler, CUDA)
    # auto: channels_last on CPU (measured 1.18x train, 1.48x eval for resnet8,
    # benchmarks/cpu_path.py), the default layout on CUDA; true/false force it.
    channels_last: bool | str = "auto"
    compile: bool = False  # torch.compile the model's forward
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    output_dir: str = "runs"
    name: str | None = None  # run folder name; default: recipe stem
    progress: bool = True
    # Per-epoch analyses in metrics.jsonl: mean |grad| per conv layer (Figure 4) and, for paired
    # methods, the KD-gradient L1 norm and target-confidence gap between pair halves (Fig. 5).
    log_analysis: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def run_kind(self) -> str:
        """What trains, in a word: the method."""
        return self.method["name"]

    def run_name(self) -> str:
        """The run folder's name: `name`, else the method's."""
        return self.name or self.run_kind()


def check_training(cfg: Any) -> None:
    """Range checks of what every task's run config shares: epochs, batches, SGD, schedule,
    precision."""
    positive = {
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "eval_batch_size": cfg.eval_batch_size,
        "eval_every": cfg.eval_every,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key}={value} must be >= 1")
    if cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr={cfg.optim.lr} must be > 0")
    if cfg.optim.weight_decay < 0:
        raise ConfigError(f"optim.weight_decay={cfg.optim.weight_decay} must be >= 0")
    if not 0 <= cfg.optim.momentum < 1:
        raise ConfigError(f"optim.momentum={cfg.optim.momentum} must be in [0, 1) (usual: 0.9)")
    if cfg.optim.nesterov and cfg.optim.momentum == 0:
        raise ConfigError("optim.nesterov=true needs optim.momentum > 0 (usual: 0.9)")
    if cfg.schedule.gamma <= 0:
        raise ConfigError(f"schedule.gamma={cfg.schedule.gamma} must be > 0 (usual: 0.1)")
    if cfg.schedule.min_lr < 0:
        raise ConfigError(f"schedule.min_lr={cfg.schedule.min_lr} must be >= 0")
    if cfg.schedule.name not in ("multistep", "cosine", "poly", "constant"):
        raise ConfigError(
            f"schedule.name={cfg.schedule.name!r} is unknown; valid: constant, cosine, "
            "multistep, poly"
        )
    if cfg.schedule.power <= 0:
        raise ConfigError(f"schedule.power={cfg.schedule.power} must be > 0 (usual: 0.9)")
    choices = {
        "optim.lr_scaling": (cfg.optim.lr_scaling, ("none", "linear")),
        "precision": (cfg.precision, ("fp32", "bf16", "fp16")),
    }
    for key, (value, valid) in choices.items():
        if value not in valid:
            raise ConfigError(f"{key}={value!r} is unknown; valid: {', '.join(valid)}")
    if cfg.optim.base_batch_size < 1:
        raise ConfigError(f"optim.base_batch_size={cfg.optim.base_batch_size} must be >= 1")
    if cfg.schedule.warmup_epochs < 0:
        raise ConfigError(f"schedule.warmup_epochs={cfg.schedule.warmup_epochs} must be >= 0")


def _check_range(cfg: RunConfig) -> None:
    """Value checks that the type system cannot express."""
    check_training(cfg)
    for key, value in {
        "data.crop_padding": cfg.data.crop_padding,
        "data.num_workers": cfg.data.num_workers,
    }.items():
        if value < 0:
            raise ConfigError(f"{key}={value} must be >= 0 (0 turns it off)")
    if cfg.data.image_size < 1:
        raise ConfigError(f"data.image_size={cfg.data.image_size} must be >= 1 (usual: 224)")
    if not 0 <= cfg.data.label_noise.rate <= 1:
        raise ConfigError(
            f"data.label_noise.rate={cfg.data.label_noise.rate} must be in [0, 1] (0.4 is 40%)"
        )
    if cfg.data.loader not in ("auto", "device", "dataloader"):
        raise ConfigError(
            f"data.loader={cfg.data.loader!r} is unknown; valid: auto, device, dataloader"
        )
    if isinstance(cfg.channels_last, str) and cfg.channels_last != "auto":
        raise ConfigError(
            f"channels_last={cfg.channels_last!r} is unknown; valid: auto, true, false"
        )
    for key in ("samples_per_class", "holdout_per_class"):
        value = getattr(cfg.data, key)
        if value is not None and value < 1:
            raise ConfigError(f"data.{key}={value} must be >= 1, or null for none")
    if cfg.data.test_subset is not None and cfg.data.test_subset < 1:
        raise ConfigError(f"data.test_subset={cfg.data.test_subset} must be >= 1")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge `override` into a copy of `base` (mappings merge, the rest replaces)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_recipe(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML recipe, resolving its `base:` (a path relative to the file, or a list)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"recipe {str(path)!r} does not exist; see `patchswap list recipes`")
    if path in _seen:
        raise ConfigError(f"recipe {str(path)!r} inherits from itself through `base:`")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"recipe {str(path)!r} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {str(path)!r} must be a mapping of keys to values")
    bases = data.pop("base", [])
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = deep_merge(merged, read_recipe(path.parent / base, (*_seen, path)))
    return deep_merge(merged, data)


# The value of an override that removes its key (`--unset KEY` is `KEY=!unset`): spelled
# key-first, so every check of an override's key (compare's reserved keys, evaluate's fixed
# ones, resume's output_dir and name) reads it as any `--set`.
UNSET_TEXT = "!unset"


class _Unset:
    """The parsed value of `KEY=!unset`: remove KEY, so that its default applies."""

    def __repr__(self) -> str:
        return UNSET_TEXT


UNSET = _Unset()


def unset_override(key: str) -> str:
    """The override text that removes `key` (`--unset KEY`), refusing what is not a key."""
    key = key.strip()
    parts = key.split(".")
    if "=" in key or not all(part and not part.isspace() for part in parts):
        raise ConfigError(f"{key!r} is not a dotted key (KEY, not KEY=VALUE), e.g. model.options")
    return f"{key}={UNSET_TEXT}"


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse `a.b.c=value` (value as YAML) into its key path and value; `a.b.c=!unset` gives
    the value `UNSET`."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value, e.g. optim.lr=0.1")
    key, raw = text.split("=", 1)
    if raw.strip() == UNSET_TEXT:
        return key.strip().split("."), UNSET
    try:
        value = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def classification_keys(values: dict[str, Any]) -> dict[str, Any]:
    """The key tree of `RunConfig` (every dataclass field), to tell a key at its default from
    a typo; `patchswap.runs.config_keys` adds the dense tasks' and each method's keys."""
    return asdict(RunConfig())


def _unset(
    values: dict[str, Any], path: list[str], keys: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """`values` without the key at `path` (its default then applies). A key that neither the
    mapping holds nor the config defines (`keys(values)`) is one line naming what is there;
    one the config defines but the mapping does not set is at its default already."""
    key = ".".join(path)
    found: Any = values
    schema: Any = keys(values)
    for depth, part in enumerate(path):
        mappings = [m for m in (found, schema) if isinstance(m, dict)]
        if not any(part in m for m in mappings):
            where = ".".join(path[:depth]) or "the config"
            if not mappings:
                raise ConfigError(f"--unset {key}: {where} is a value, not a mapping of keys")
            keys = ", ".join(sorted({k for m in mappings for k in m})) or "no keys"
            raise ConfigError(
                f"--unset {key}: no such key to reset (neither set nor a config key); "
                f"{where} holds {keys}"
            )
        found = found.get(part) if isinstance(found, dict) else None
        schema = schema.get(part) if isinstance(schema, dict) else None
    parent: Any = values
    for part in path[:-1]:
        parent = parent.get(part) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or path[-1] not in parent:
        return values  # a config key the mapping does not set: at its default already
    copy = dict(values)
    parent = copy
    for part in path[:-1]:
        parent[part] = dict(parent[part])
        parent = parent[part]
    del parent[path[-1]]
    return copy


def apply_overrides(
    values: dict[str, Any],
    overrides: Sequence[str],
    keys: Callable[[dict[str, Any]], dict[str, Any]] = classification_keys,
) -> dict[str, Any]:
    """Apply dotted `key=value` overrides, in order, to a nested mapping (unknown keys fail at
    build); `key=!unset` removes the key, so that its default applies (`keys` gives the key
    tree of the config the mapping builds)."""
    values = dict(values)
    for text in overrides:
        path, value = parse_override(text)
        if value is UNSET:
            values = _unset(values, path, keys)
            continue
        nested = {path[-1]: value}
        for part in reversed(path[:-1]):
            nested = {part: nested}
        values = deep_merge(values, nested)
    return values


def build_run_config(values: dict[str, Any]) -> RunConfig:
    """Typed classification config from a nested mapping, its shared sections checked; the
    method's options are checked and resolved by `patchswap.runs.build_config`, which knows
    the methods and the other tasks."""
    values = {k: v for k, v in values.items() if k != "task"}  # `task: classification`
    method = values.get("method")
    if isinstance(method, str):  # shorthand `method: hard_label`
        values = {**values, "method": {"name": method}}
    elif isinstance(method, dict) and "name" not in method:  # options for the default method
        values = {**values, "method": {"name": "patchswap", **method}}
    cfg = build_dataclass(RunConfig, values, "")
    _check_range(cfg)
    return cfg


def dump_config(cfg: RunConfig) -> str:
    """The resolved config as YAML, loadable again with `runs.load_config`."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
