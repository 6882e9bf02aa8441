"""The repository stands alone: a clone with nothing beside it passes its own tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# spelled in two parts so this file does not name the folder it forbids
FORBIDDEN = ("../" + "shared", "shared/" + "reference", "shared/" + "DESIGN")


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    return [REPO / name for name in listed if name and (REPO / name).is_file()]


def test_no_file_of_the_project_refers_to_the_reference_folder_beside_the_checkout():
    offenders = []
    for path in tracked_files():
        data = path.read_bytes()
        if b"\0" in data[:4096]:
            continue  # binary
        text = data.decode("utf-8", errors="replace")
        offenders += [f"{path.relative_to(REPO)}: {word}" for word in FORBIDDEN if word in text]
    assert not offenders, offenders


def test_the_golden_corruption_outputs_ship_with_the_tests():
    golden = REPO / "tests" / "evaluation" / "golden"
    assert (golden / "cifar_c.npz").stat().st_size > 1_000_000
    assert "make_cifar_c.py" in (golden / "README.md").read_text()
