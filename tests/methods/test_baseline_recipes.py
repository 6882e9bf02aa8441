"""CIFAR-100 baseline recipes: one per (architecture, baseline), each with the shared protocol
and the per-architecture values the baselines' authors use; author schedules as variants."""

import pytest

from patchswap.recipes import find_recipe
from patchswap.runs import load_config

# Table 3's architectures, plus MobileNetV2 (RepDistiller's and the baselines' authors' models).
ARCHITECTURES = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "vgg13",
    "vgg16",
    "shufflenetv1",
    "shufflenetv2",
    "mobilenetv2",
]
BASELINES = [
    "byot",
    "cs_kd",
    "ddgsd",
    "disturb_label",
    "dlb",
    "fer",
    "label_smoothing",
    "ols",
    "tf_kd_reg",
    "tf_kd_self",
    "zipf_ls",
]
LOW_LR = {"shufflenetv1", "shufflenetv2", "mobilenetv2"}  # lr 0.01, as their hard-label recipes


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_baseline_has_a_recipe_with_the_shared_protocol(arch):
    for baseline in BASELINES:
        cfg = load_config(find_recipe(f"cifar100/baselines/{arch}_{baseline}"))  # validated
        assert (cfg.model.name, cfg.method["name"]) == (arch, baseline)
        assert (cfg.epochs, cfg.batch_size, cfg.optim.nesterov) == (240, 64, False)
        assert cfg.optim.lr == (0.01 if arch in LOW_LR else 0.05)
        assert cfg.optim.weight_decay == 5e-4 and cfg.schedule.milestones == [150, 180, 210]


@pytest.mark.parametrize(
    "recipe, expected",
    [
        ("resnet18_tf_kd_reg", {"alpha": 0.1, "temperature": 20.0, "multiplier": 100.0}),
        ("shufflenetv2_tf_kd_reg", {"alpha": 0.95, "temperature": 10.0, "multiplier": 1.0}),
        ("mobilenetv2_tf_kd_reg", {"alpha": 0.95, "temperature": 40.0, "multiplier": 1.0}),
        ("resnet18_tf_kd_self", {"alpha": 0.95, "temperature": 6.0, "multiplier": 50.0}),
        ("shufflenetv2_tf_kd_self", {"alpha": 0.95, "temperature": 20.0, "multiplier": 1.0}),
        ("vgg13_tf_kd_self", {"teacher": "runs/vgg13_hard_label/best.pt"}),
        ("resnet18_fer", {"mu": 1.0}),
        ("shufflenetv2_fer", {"mu": 0.5}),
        ("mobilenetv2_fer", {"mu": 0.3}),
        ("resnet18_ddgsd", {"ce_weight": 0.25}),
    ],
)
def test_per_architecture_method_values(recipe, expected):
    method = load_config(find_recipe(f"cifar100/baselines/{recipe}")).method
    assert {key: method[key] for key in expected} == expected


@pytest.mark.parametrize(
    "baseline, epochs, batch_size, lr, weight_decay, nesterov, milestones",
    [
        ("cs_kd", 200, 128, 0.1, 1e-4, False, [100, 150]),
        ("dlb", 240, 64, 0.05, 5e-4, True, [150, 180, 210]),
        ("ols", 300, 128, 0.1, 5e-4, True, [150, 225]),
    ],
)
def test_author_schedules_are_variants_of_the_fair_recipe(
    baseline, epochs, batch_size, lr, weight_decay, nesterov, milestones
):
    fair = load_config(find_recipe(f"cifar100/baselines/resnet18_{baseline}"))
    cfg = load_config(find_recipe(f"cifar100/baselines/resnet18_{baseline}_authors"))
    assert cfg.method == fair.method and cfg.model == fair.model
    assert (cfg.epochs, cfg.batch_size, cfg.optim.lr) == (epochs, batch_size, lr)
    assert (cfg.optim.weight_decay, cfg.optim.nesterov) == (weight_decay, nesterov)
    assert cfg.schedule.milestones == milestones
