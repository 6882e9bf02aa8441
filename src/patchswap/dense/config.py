"""Typed run configuration of the dense tasks (semantic segmentation, detection).

A recipe with `task: segmentation` or `task: detection` resolves to `DenseRunConfig`; the
recipe system (`base:`, `--set`, run folder, `config.yaml`) is the classification one, and the
SGD, schedule and distributed sections are shared with it. The backbone is a classifier of
this trainer: `model.backbone` names its architecture, `model.weights` a checkpoint of
`patchswap train` to start from; `model.backbone=<checkpoint>` takes both from a checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..checkpoint import load_checkpoint
from ..config import DistributedConfig, OptimConfig, ScheduleConfig, check_training
from ..errors import ConfigError
from ..infra.typed_mappings import build_dataclass
from .backbone import checkpoint_architecture, is_checkpoint
from .datasets.voc import IMAGENET_MEAN, IMAGENET_STD
from .heads import DETECTION_MODELS, SEGMENTATION_MODELS

TASKS = ("segmentation", "detection")
DATASETS = {  # the sets each task reads (see `patchswap.dense.datasets`)
    "segmentation": ("voc", "scenes", "cityscapes", "rugd"),
    "detection": ("voc", "scenes"),
}


@dataclass
class DenseDataConfig:
    """Which dense set, where, which splits, and the input geometry."""

    name: str = "scenes"  # voc | scenes (VOC layout, Fashion-MNIST classes) | cityscapes | rugd
    root: str = "data/scenes"
    # VOC and scenes: YEAR/IMAGE_SET, e.g. [2007/trainval, 2012/trainval] (VOC07+12);
    # Cityscapes and RUGD: split names
    train: list[str] = field(default_factory=lambda: ["2012/train"])
    test: str = "2012/val"
    sbd_aug: bool = False  # VOC segmentation: train on SBD's SegmentationClassAug
    # segmentation: the training crop (test images keep their size); detection: the model's
    # input size (SSD300: 300)
    size: int = 513
    # segmentation training: probability of a Gaussian blur of the image (jfzhang95's
    # RandomGaussianBlur: 0.5 in the DeepLabV3+ recipes; 0 none)
    blur: float = 0.0
    grayscale: bool = False  # one-channel input, for backbones trained on grey images
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    num_workers: int = 0
    test_subset: int | None = None  # evaluate on the first N test images (quick CPU runs)


@dataclass
class DenseModelConfig:
    """The head (`name`) on a backbone cut from a classifier at `taps`."""

    name: str = "deeplabv3plus"  # deeplabv3plus | pspnet (segmentation), ssd (detection)
    backbone: str = "tv:resnet50"  # an architecture (build_model's names) or a checkpoint
    weights: str | None = None  # checkpoint or run folder of `patchswap train`; null: scratch
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. dilation
    taps: list[str] | None = None  # stages the head reads; null: the model's stages
    options: dict[str, Any] = field(default_factory=dict)  # the head's own options


@dataclass
class DenseRunConfig:
    """Everything a dense training run needs; the YAML recipe mirrors this tree."""

    task: str = "segmentation"
    data: DenseDataConfig = field(default_factory=DenseDataConfig)
    model: DenseModelConfig = field(default_factory=DenseModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    epochs: int = 50
    batch_size: int = 8  # images per step over all processes
    eval_batch_size: int = 8
    eval_every: int = 1
    # lr of the head (everything but the backbone) / lr of the backbone: DeepLabV3+ as
    # jfzhang95/pytorch-deeplab-xception trains its ASPP and decoder at 10x
    head_lr_scale: float = 1.0
    # divide the pixel-mean cross-entropy by the global batch size, as jfzhang95's
    # SegmentationLosses(batch_average=True) does: its lr 0.007 and wd 5e-4 are for that loss
    ce_batch_average: bool = False
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"
    precision: str = "fp32"  # fp32 | bf16 | fp16
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    output_dir: str = "runs"
    name: str | None = None
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def run_kind(self) -> str:
        """What trains, in a word: the head."""
        return self.model.name

    def run_name(self) -> str:
        """The run folder's name: `name`, else the head's."""
        return self.name or self.run_kind()


def _resolve_backbone(model: DenseModelConfig) -> None:
    """`backbone=<checkpoint>` is shorthand: the architecture and options from the checkpoint,
    `weights` the checkpoint; so the saved config names the architecture and a resumed run
    never needs the checkpoint again."""
    if not is_checkpoint(model.backbone):
        return
    source = model.backbone
    if model.weights is not None and model.weights != source:
        raise ConfigError(
            f"model.backbone={source} takes its weights from that checkpoint, but "
            f"model.weights={model.weights} names another; give one of them"
        )
    name, kwargs = checkpoint_architecture(load_checkpoint(source), source)
    model.backbone, model.weights = name, source
    model.backbone_kwargs = {**kwargs, **model.backbone_kwargs}


def build_dense_config(values: dict[str, Any]) -> DenseRunConfig:
    """Typed, validated dense config from a nested mapping (see `runs.build_config`)."""
    cfg = build_dataclass(DenseRunConfig, values, "")
    if cfg.task not in TASKS:
        raise ConfigError(
            f"task={cfg.task!r} is unknown; valid: classification, {', '.join(TASKS)}"
        )
    check_training(cfg)
    valid = DATASETS[cfg.task]
    if cfg.data.name not in valid:
        raise ConfigError(
            f"data.name={cfg.data.name!r} is not a {cfg.task} set here; valid: {', '.join(valid)}"
        )
    heads = SEGMENTATION_MODELS if cfg.task == "segmentation" else DETECTION_MODELS
    if cfg.model.name not in heads:
        raise ConfigError(
            f"model.name={cfg.model.name!r} is not a {cfg.task} model; valid: {', '.join(heads)}"
        )
    if cfg.data.size < 1 or cfg.data.num_workers < 0:
        raise ConfigError(
            f"data.size={cfg.data.size} must be >= 1 and data.num_workers="
            f"{cfg.data.num_workers} >= 0"
        )
    if not 0 <= cfg.data.blur <= 1:
        raise ConfigError(f"data.blur={cfg.data.blur} is a probability, in [0, 1] (0: no blur)")
    channels = 1 if cfg.data.grayscale else 3
    if not len(cfg.data.mean) == len(cfg.data.std) == channels:
        raise ConfigError(
            f"data.mean has {len(cfg.data.mean)} values and data.std {len(cfg.data.std)}; "
            f"give one per image channel ({channels} with data.grayscale={cfg.data.grayscale})"
        )
    if not cfg.data.train:
        raise ConfigError("data.train is empty; name at least one split, e.g. [2012/train]")
    if cfg.head_lr_scale <= 0:
        raise ConfigError(f"head_lr_scale={cfg.head_lr_scale} must be > 0 (1: one lr for all)")
    if cfg.data.test_subset is not None and cfg.data.test_subset < 1:
        raise ConfigError(f"data.test_subset={cfg.data.test_subset} must be >= 1")
    _resolve_backbone(cfg.model)
    return cfg
