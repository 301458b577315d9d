"""Crafted checkpoints: what a file declares is checked from its .npy headers before anything is
allocated (issue 11, finding 4: an extra 500M-element array of zeros under ``history/`` in a 4 MB
``_latest.npz`` made ``--resume`` use 3.95 GB and exit 0)."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dropout_lab import FullyConnectedNet, Solver
from dropout_lab.checkpoint import load_checkpoint, read_checkpoint, read_training_state, save_checkpoint
from dropout_lab.errors import CheckpointError

# What reading a crafted file may allocate at most: the small files here need far less than this.
PEAK_BOUND = 16 * 2**20


def net(seed: int = 0) -> FullyConnectedNet:
    return FullyConnectedNet([6], input_dim=4, num_classes=3, dtype=np.float64, rng=np.random.default_rng(seed))


DATA = {
    "X_train": np.random.default_rng(1).standard_normal((40, 4)),
    "y_train": np.arange(40) % 3,
    "X_val": np.random.default_rng(2).standard_normal((12, 4)),
    "y_val": np.arange(12) % 3,
}


def solver(tmp_path: Path, **kwargs: Any) -> Solver:
    options: dict[str, Any] = dict(update_rule="adam", batch_size=10, num_epochs=2, verbose=False, seed=3)
    options.update(kwargs)
    return Solver(net(), DATA, checkpoint_name=str(tmp_path / "run"), **options)


@pytest.fixture
def latest(tmp_path: Path) -> Path:
    """A real training checkpoint: one epoch of a two-epoch run."""
    s = solver(tmp_path)
    s.train(epochs=1)
    return tmp_path / "run_latest.npz"


def add_zeros(path: Path, name: str, shape: tuple[int, ...], dtype: str = "<f8") -> None:
    """Append an .npy member of zeros, deflated (zeros shrink about a thousand times)."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name + ".npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": dtype, "fortran_order": False, "shape": shape})
            left = int(np.prod(shape)) * np.dtype(dtype).itemsize
            chunk = bytes(min(left, 2**22))
            while left > 0:
                member.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)


def rewrite(path: Path, change: Callable[[dict[str, bytes], dict[str, Any]], None]) -> None:
    """Rewrite the archive with ``change(members, metadata)`` applied (members: name -> .npy bytes)."""
    with zipfile.ZipFile(path) as archive:
        members = {name[: -len(".npy")]: archive.read(name) for name in archive.namelist()}
    with np.load(path, allow_pickle=False) as npz:
        metadata = json.loads(str(npz["metadata"][()]))
    original = members["metadata"]
    change(members, metadata)
    if members["metadata"] is original:  # else the change replaced the entry itself
        members["metadata"] = npy_bytes(np.array(json.dumps(metadata)))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name + ".npy", data)


def npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def refused_within_bound(call: Callable[[], object], *words: str) -> CheckpointError:
    """``call`` raises CheckpointError with every one of ``words``, having allocated little."""
    tracemalloc.start()  # NumPy reports its array allocations to tracemalloc
    try:
        with pytest.raises(CheckpointError) as info:
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for word in words:
        assert word in str(info.value)
    assert peak < PEAK_BOUND, f"reading the crafted file allocated {peak / 2**20:.0f} MiB"
    return info.value


def test_an_extra_array_of_zeros_is_refused_unread(latest, tmp_path):
    # 20M float64 zeros: 160 MB of data in about 160 KB of file.
    add_zeros(latest, "history/extra", (20_000_000,))
    assert latest.stat().st_size < 2**20
    refused_within_bound(lambda: solver(tmp_path).resume(latest), str(latest), "history/extra", "does not list")
    refused_within_bound(lambda: read_training_state(latest), str(latest), "history/extra")
    refused_within_bound(lambda: load_checkpoint(latest, net()), str(latest), "history/extra")


@pytest.mark.parametrize("name", ["history/loss", "param/W1", "rng/solver", "metadata", "format_version"])
def test_a_header_declaring_more_than_its_data_is_refused_unread(latest, name):
    # A tiny member whose .npy header declares a billion floats: NumPy allocates before reading.
    def change(members: dict[str, bytes], metadata: dict[str, Any]) -> None:
        array = np.zeros(3)
        header = npy_bytes(array)[: -array.nbytes]
        members[name] = header.replace(b"(3,)", b"(1000000000,)")

    rewrite(latest, change)
    refused_within_bound(lambda: read_checkpoint(latest), str(latest), name, "declares")


def test_a_zip_record_declaring_a_huge_size_is_refused_unread(latest, tmp_path):
    # The header is consistent with the zip record, and both declare a billion floats; the data is not there.
    crafted = tmp_path / "crafted.npz"
    with zipfile.ZipFile(latest) as source, zipfile.ZipFile(crafted, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != "history/loss.npy":
                target.writestr(info, source.read(info))
    add_zeros(crafted, "history/loss", (10_000_000,))
    refused_within_bound(lambda: solver(tmp_path).resume(crafted), str(crafted), "histories of lengths 10000000")


def test_histories_longer_than_the_run_allows_are_refused_unread(latest, tmp_path):
    # Consistent with its metadata (5M steps, none of them at an epoch's end), but this Solver has 8 steps.
    def change(members: dict[str, bytes], metadata: dict[str, Any]) -> None:
        del members["history/loss"]
        members["history/train_acc"] = members["history/val_acc"] = npy_bytes(np.zeros(1))
        members["history/acc_epochs"] = npy_bytes(np.zeros(1, dtype=np.int64))
        metadata.update(iteration=5_000_000, epoch=0, recorded_epochs=1)

    rewrite(latest, change)
    add_zeros(latest, "history/loss", (5_000_000,))
    refused_within_bound(lambda: solver(tmp_path).resume(latest), str(latest), "5000000 steps", "8 steps")


def test_parameters_larger_than_the_model_are_refused_unread(tmp_path):
    path = save_checkpoint(tmp_path / "m.npz", net())

    def change(members: dict[str, bytes], metadata: dict[str, Any]) -> None:
        del members["param/W1"]
        metadata["params"]["W1"] = {"shape": [4, 5_000_000], "dtype": "<f8"}

    rewrite(path, change)
    add_zeros(path, "param/W1", (4, 5_000_000))
    refused_within_bound(lambda: load_checkpoint(path, net()), str(path), "another architecture", "W1")


def test_an_optimizer_state_larger_than_its_parameter_is_refused_unread(latest):
    def change(members: dict[str, bytes], metadata: dict[str, Any]) -> None:
        del members["optim/W1/m"]

    rewrite(latest, change)
    add_zeros(latest, "optim/W1/m", (5_000_000,))
    refused_within_bound(lambda: read_training_state(latest), str(latest), "optim/W1/m", "no more than")


def test_members_that_are_not_arrays_or_appear_twice_are_refused(latest, tmp_path):
    other = tmp_path / "other.npz"
    other.write_bytes(latest.read_bytes())
    with zipfile.ZipFile(latest, "a") as archive:
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(CheckpointError, match="'notes.txt', which is not an .npy array"):
        read_checkpoint(latest)
    with zipfile.ZipFile(other, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("history/loss.npy", npy_bytes(np.zeros(4)))
    with pytest.raises(CheckpointError, match="entry history/loss twice"):
        read_checkpoint(other)


def test_a_real_checkpoint_still_resumes_exactly(latest, tmp_path):
    state = read_training_state(latest)
    assert state.epoch == 1 and state.iteration == 4
    resumed = solver(tmp_path)
    resumed.resume(latest)
    resumed.train()
    (tmp_path / "straight").mkdir()
    straight = solver(tmp_path / "straight")
    straight.train()
    assert resumed.loss_history == straight.loss_history
    assert resumed.val_acc_history == straight.val_acc_history


# ----------------------------------------------------------------------------- num_steps, eval_every (issue 12)
def set_setting(key: str, value: Any) -> Callable[[dict[str, bytes], dict[str, Any]], None]:
    return lambda members, metadata: metadata["settings"].update({key: value})


@pytest.mark.parametrize(
    "change, words",
    [
        *[(set_setting("eval_every", v), f"malformed 'eval_every' setting: {v!r}; expected a positive integer")
          for v in (0, -3, "2", True, 2.5, None, 10.0**300)],
        *[(set_setting("num_steps", v), f"malformed 'num_steps' setting: {v!r}; expected a positive integer or None")
          for v in (0, -1, "10", False, [8])],
        *[(lambda members, metadata, v=v: metadata.update(recorded_epochs=v), f"'recorded_epochs' record: {v!r}")
          for v in (10**12, -1, 0, 3, "2", None, True)],
    ],
)
def test_absurd_budget_and_measurement_records_are_refused(latest, tmp_path, change, words):
    rewrite(latest, change)
    refused_within_bound(lambda: read_training_state(latest), str(latest), words)
    refused_within_bound(lambda: solver(tmp_path).resume(latest), str(latest), words)


def test_a_huge_eval_every_or_budget_is_refused_as_another_run(latest, tmp_path):
    rewrite(latest, set_setting("eval_every", 10**30))
    refused_within_bound(lambda: solver(tmp_path).resume(latest), f"eval_every={10**30}", "eval_every=1")
    rewrite(latest, set_setting("num_steps", 10**30))
    refused_within_bound(lambda: solver(tmp_path).resume(latest), f"num_steps={10**30}", "num_steps=None")


@pytest.mark.parametrize(
    "acc_epochs, words",
    [
        (np.array([0, 2]), "measured epochs (history/acc_epochs) [0, 2]"),  # epoch 2 is not recorded yet
        (np.array([1, 0]), "measured epochs (history/acc_epochs) [1, 0]"),
        (np.array([0, 0]), "measured epochs (history/acc_epochs) [0, 0]"),
        (np.array([0, 1, 2]), "histories of lengths 4, 2, 2, 3"),
        (np.array([0.0, 1.0]), "is missing entry history/acc_epochs"),
        (None, "is missing entry history/acc_epochs"),
    ],
)
def test_malformed_measured_epochs_are_refused(latest, acc_epochs, words):
    def change(members: dict[str, bytes], metadata: dict[str, Any]) -> None:
        if acc_epochs is None:
            del members["history/acc_epochs"]
        else:
            members["history/acc_epochs"] = npy_bytes(acc_epochs)

    rewrite(latest, change)
    refused_within_bound(lambda: read_training_state(latest), str(latest), words)


def test_measured_epochs_declaring_millions_are_refused_unread(latest, tmp_path):
    def change(members: dict[str, bytes], metadata: dict[str, Any]) -> None:
        del members["history/acc_epochs"]

    rewrite(latest, change)
    add_zeros(latest, "history/acc_epochs", (5_000_000,), dtype="<i8")
    refused_within_bound(lambda: solver(tmp_path).resume(latest), str(latest), "histories of lengths 4, 2, 2, 5000000")
