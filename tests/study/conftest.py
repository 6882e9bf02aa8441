"""The study tests' shared plan: two groups on the generated Fashion-MNIST, seconds a cell."""

import pytest
import yaml


@pytest.fixture
def plan_file(tiny_run, tmp_path):
    """Write a two-group plan on the generated Fashion-MNIST; `edit` changes the mapping."""
    budget = [o for o in tiny_run() if not o.startswith(("output_dir=", "name="))]

    def write(edit=lambda plan: None):
        plan = {
            "title": "Tiny study",
            "about": "Generated data, seconds per cell.",
            "kind": "exploratory",
            "seeds": [0, 1],
            "set": budget,
            "evaluations": ["gap", "calibration"],
            "groups": [
                {
                    "name": "clean",
                    "recipes": ["fashion_mnist/hard_label", "fashion_mnist/patchswap"],
                },
                {
                    "name": "p sweep",
                    "recipes": ["fashion_mnist/patchswap"],
                    "sweep": "method.p=0,0.5",
                    "set": ["epochs=1"],
                },
            ],
            "claims": [
                {
                    "claim": "patch swap is more accurate",
                    "source": "paper",
                    "citation": {
                        "table": 15,
                        "dataset": "CIFAR-100",
                        "architecture": "ResNet18",
                        "baseline_value": 77.92,
                        "method_value": 80.27,
                    },
                    "group": "clean",
                    "row": "patchswap",
                    "metric": "last_top1",
                    "expect": "higher",
                },
                {
                    "claim": "patch swap beats the swept p 0 row of the other group",
                    "source": "hypothesis",
                    "group": "clean",
                    "row": "patchswap",
                    "against": "patchswap (method.p=0)",
                    "against_group": "p sweep",
                    "metric": "last_top1",
                    "expect": "higher",
                },
                {
                    "claim": "patch swap is better calibrated",
                    "source": "paper",
                    "citation": {"table": 10, "dataset": "CIFAR-100", "architecture": "ResNet50"},
                    "group": "clean",
                    "row": "patchswap",
                    "metric": "ece",
                    "expect": "lower",
                },
            ],
        }
        edit(plan)
        path = tmp_path / "tiny.yaml"
        path.write_text(yaml.safe_dump(plan))
        return path

    return write
