"""CIFAR-10 / CIFAR-100 load from their standard layout, miniature copies included."""

from __future__ import annotations

import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures_data import (
    cifar10_class_names,
    cifar100_class_names,
    cifar_batch,
    random_pixels,
    to_uint8,
)

from patchswap.config import DataConfig
from patchswap.data import build_datasets
from patchswap.errors import DataError


def test_cifar10_loads_miniature_batches(cifar10_root):
    bundle = build_datasets(DataConfig(name="cifar10", root=str(cifar10_root)))
    assert (len(bundle.train), len(bundle.train_eval), len(bundle.test)) == (100, 100, 30)
    assert bundle.num_classes == 10 and bundle.class_names == cifar10_class_names()
    assert (bundle.in_channels, bundle.image_size) == (3, (32, 32))
    assert bundle.mean == (0.4914, 0.4822, 0.4465) and bundle.std == (0.2470, 0.2435, 0.2616)
    assert bundle.train_labels.dtype == torch.int64
    assert bundle.train_labels.tolist() == [i % 10 for i in range(20)] * 5
    image, label = bundle.test[3]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 3
    # rows of the pickle are channel-major (R plane, G plane, B plane)
    expected = random_pixels(30, (3, 32, 32), seed=0)[3].transpose(1, 2, 0)
    np.testing.assert_array_equal(to_uint8(image, bundle.mean, bundle.std), expected)


def test_cifar100_uses_fine_labels_and_names(cifar100_root):
    bundle = build_datasets(DataConfig(name="cifar100", root=str(cifar100_root)))
    assert (len(bundle.train), len(bundle.test)) == (300, 100)
    assert bundle.num_classes == 100 and bundle.class_names == cifar100_class_names()[0]
    assert bundle.train_labels.tolist() == [i % 100 for i in range(300)]
    assert bundle.mean == (0.5071, 0.4865, 0.4409) and bundle.std == (0.2673, 0.2564, 0.2762)
    image, label = bundle.train_eval[150]
    assert image.shape == (3, 32, 32) and label == 50


@pytest.mark.parametrize(
    ("name", "folder"), [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")]
)
def test_missing_cifar_names_folder_and_fix(tmp_path, name, folder):
    with pytest.raises(DataError) as info:
        build_datasets(DataConfig(name=name, root=str(tmp_path)))
    message = str(info.value)
    assert str(tmp_path / folder) in message and "data.download=true" in message
    assert "\n" not in message


def test_partial_cifar_names_the_missing_file(tmp_path, cifar10_root):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "batches.meta"):
        (folder / name).write_bytes((cifar10_root / "cifar-10-batches-py" / name).read_bytes())
    with pytest.raises(DataError, match="data_batch_2 is missing"):
        build_datasets(DataConfig(name="cifar10", root=str(tmp_path)))


class _Payload:
    """Unpickles by running code that creates `marker`, like a tampered batch would."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def _copy_cifar10(source: Path, target: Path) -> Path:
    shutil.copytree(source / "cifar-10-batches-py", target / "cifar-10-batches-py")
    return target / "cifar-10-batches-py"


@pytest.mark.parametrize("name", ["data_batch_1", "batches.meta"])
def test_tampered_cifar_pickle_never_runs_its_code(tmp_path, cifar10_root, name):
    folder = _copy_cifar10(cifar10_root, tmp_path / "root")
    path = folder / name
    with open(path, "rb") as f:
        content = pickle.load(f)
    marker = tmp_path / "marker"
    content["payload"] = _Payload(marker)
    path.write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(DataError) as info:
        build_datasets(DataConfig(name="cifar10", root=str(tmp_path / "root")))
    assert not marker.exists()
    assert str(info.value) == (
        f"CIFAR-10 file {path} holds code or objects a CIFAR batch never contains "
        "(builtins.exec); it was not loaded: replace it with the official python-version "
        "file from cifar-10-python.tar.gz"
    )


def _py2_str(text: bytes) -> bytes:
    """A Python 2 `str` in a pickle (SHORT_BINSTRING or BINSTRING)."""
    if len(text) < 256:
        return b"U" + bytes([len(text)]) + text
    return b"T" + struct.pack("<i", len(text)) + text


def _py2_batch_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """`{'data': data, 'labels': labels}` as Python 2's cPickle wrote the official batches."""
    n, width = data.shape
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + b"K\x00\x85" + _py2_str(b"b") + b"\x87R"  # _reconstruct(ndarray, (0,), 'b')
        + b"(K\x01M" + struct.pack("<H", n) + b"M" + struct.pack("<H", width) + b"\x86"
        + b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R"  # dtype('u1', 0, 1)
        + b"(K\x03" + _py2_str(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + b"\x89" + _py2_str(data.tobytes()) + b"tb"  # (1, shape, dtype, False, bytes)
    )  # fmt: skip
    label_list = b"](" + b"".join(b"K" + bytes([label]) for label in labels) + b"e"
    return b"\x80\x02}(" + _py2_str(b"data") + array + _py2_str(b"labels") + label_list + b"u."


def test_python2_pickles_like_the_official_files_load(tmp_path, cifar10_root):
    folder = _copy_cifar10(cifar10_root, tmp_path)
    data = random_pixels(20, (3 * 32 * 32,), seed=9)
    labels = [(3 * i) % 10 for i in range(20)]
    (folder / "data_batch_1").write_bytes(_py2_batch_pickle(data, labels))
    bundle = build_datasets(DataConfig(name="cifar10", root=str(tmp_path), augment=False))
    assert bundle.train_labels[:20].tolist() == labels
    expected = data[4].reshape(3, 32, 32).transpose(1, 2, 0)
    image = bundle.train[4][0]
    np.testing.assert_array_equal(to_uint8(image, bundle.mean, bundle.std), expected)


@pytest.mark.parametrize("protocol", [4, 5])
def test_batches_repickled_by_numpy_2_load(tmp_path, cifar10_root, protocol):
    folder = _copy_cifar10(cifar10_root, tmp_path)
    for path in folder.iterdir():
        with open(path, "rb") as f:
            content = pickle.load(f)
        path.write_bytes(pickle.dumps(content, protocol=protocol))
    bundle = build_datasets(DataConfig(name="cifar10", root=str(tmp_path)))
    assert len(bundle.train) == 100 and bundle.class_names == cifar10_class_names()


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda batch: batch.update(labels=batch["labels"][:-1]), "20 images but 19 integer"),
        (lambda batch: batch["labels"].__setitem__(0, 10), "'labels' outside 0..9"),
        (lambda batch: batch.update(data=batch["data"][:, :100]), "rows hold 100 values"),
        (lambda batch: batch.update(data=batch["data"].tolist()), "'data' is not a uint8 array"),
    ],
    ids=["label count", "label range", "row width", "not an array"],
)
def test_malformed_cifar_batch_names_the_file(tmp_path, cifar10_root, edit, problem):
    folder = _copy_cifar10(cifar10_root, tmp_path)
    batch = cifar_batch(20, 10, 3, ("labels",))
    edit(batch)
    (folder / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError) as info:
        build_datasets(DataConfig(name="cifar10", root=str(tmp_path)))
    message = str(info.value)
    assert message.startswith(f"CIFAR-10 file {folder / 'data_batch_3'} is not a valid CIFAR")
    assert problem in message and "\n" not in message


def test_truncated_cifar_pickle_names_the_file(tmp_path, cifar10_root):
    folder = _copy_cifar10(cifar10_root, tmp_path)
    path = folder / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match=f"CIFAR-10 file {path} is not a readable pickle"):
        build_datasets(DataConfig(name="cifar10", root=str(tmp_path)))
