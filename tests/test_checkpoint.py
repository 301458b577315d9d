"""Checkpoint files: round trips, atomic writes, refusal of unsafe, damaged or mismatched files,
and random generator states restored exactly."""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab import FullyConnectedNet
from dropout_lab.checkpoint import (
    FORMAT_VERSION,
    TrainingState,
    load_checkpoint,
    read_checkpoint,
    read_training_state,
    save_checkpoint,
    write_training_state,
)
from dropout_lab.checkpoint._format import restore_generator
from dropout_lab.errors import CheckpointError, InvalidTypeError
from dropout_lab.layers.dropout import MASK_STREAM_VERSION


def trained_batchnorm_net(seed: int, hidden=(6, 5), dtype=np.float64) -> FullyConnectedNet:
    """A net whose buffers exist: one training forward pass fills batchnorm's running statistics."""
    g = np.random.default_rng(seed)
    model = FullyConnectedNet(list(hidden), input_dim=4, num_classes=3, normalization="batchnorm",
                              dtype=dtype, rng=g)
    model.loss(g.standard_normal((7, 4)), g.integers(0, 3, 7))
    return model


def model_state(model):
    return {k: v.copy() for k, v in model.params.items()}, model.buffers()


def assert_state_equal(a, b):
    (pa, ba), (pb, bb) = a, b
    assert list(pa) == list(pb) and all(pa[k].dtype == pb[k].dtype and np.array_equal(pa[k], pb[k]) for k in pa)
    assert ba.keys() == bb.keys() and all(np.array_equal(ba[k], bb[k]) for k in ba)


def test_model_round_trip(tmp_path):
    source = trained_batchnorm_net(0)
    path = save_checkpoint(tmp_path / "m.npz", source, metadata={"note": "hello", "epoch": 3})
    assert path == tmp_path / "m.npz"
    # The write goes through a temporary file that is renamed: nothing else is left behind.
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    target = trained_batchnorm_net(1)
    metadata = load_checkpoint(path, target)
    assert_state_equal(model_state(source), model_state(target))
    assert metadata["user"] == {"note": "hello", "epoch": 3}
    assert metadata["kind"] == "model" and metadata["params"]["W1"] == {"shape": [4, 6], "dtype": "<f8"}
    # Loaded arrays belong to the model: changing them leaves the next load unaffected.
    target.params["W1"][0, 0] += 1.0
    load_checkpoint(path, target)
    assert np.array_equal(target.params["W1"], source.params["W1"])


def test_the_file_is_a_plain_npz_without_pickles(tmp_path):
    path = save_checkpoint(tmp_path / "m.npz", trained_batchnorm_net(0))
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
    assert "format_version.npy" in names and "metadata.npy" in names and "param/W1.npy" in names
    assert "buffer/running_mean1.npy" in names
    with np.load(path, allow_pickle=False) as npz:
        assert int(npz["format_version"]) == FORMAT_VERSION
        assert all(npz[name].dtype != object for name in npz.files)
        json.loads(str(npz["metadata"][()]))


@pytest.mark.parametrize(
    "other, words",
    [
        (lambda: trained_batchnorm_net(5, hidden=(6, 4)), "parameter W2 has shape (6, 5) in the checkpoint and (6, 4)"),
        (lambda: trained_batchnorm_net(5, hidden=(6,)), "the checkpoint has parameters the model lacks"),
        (lambda: trained_batchnorm_net(5, dtype=np.float32), "float64 in the checkpoint and float32 in the model"),
        (lambda: FullyConnectedNet([6, 5], input_dim=4, num_classes=3, rng=np.random.default_rng(5)),
         "the checkpoint has parameters the model lacks: ['gamma1', 'beta1', 'gamma2', 'beta2']"),
    ],
)
def test_another_architecture_is_refused_and_the_model_untouched(tmp_path, other, words):
    path = save_checkpoint(tmp_path / "m.npz", trained_batchnorm_net(0))
    model = other()
    before = model_state(model)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model)
    assert words in str(info.value) and str(path) in str(info.value)
    assert_state_equal(before, model_state(model))


def test_buffers_the_model_cannot_take_are_refused_untouched(tmp_path):
    source = trained_batchnorm_net(0)
    path = save_checkpoint(tmp_path / "m.npz", source)

    class NoBuffers:
        def __init__(self):
            self.params = {k: np.zeros_like(v) for k, v in source.params.items()}

    model = NoBuffers()
    with pytest.raises(CheckpointError, match="no load_buffers"):
        load_checkpoint(path, model)
    assert all(not v.any() for v in model.params.values())


def damaged_copies(data: bytes):
    middle = len(data) // 2
    yield "truncated", data[:middle]
    yield "cut short by one byte", data[:-1]
    yield "flipped byte", data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1 :]
    yield "empty", b""
    yield "not a zip", b"hello, this is not a checkpoint" * 10


def test_damaged_files_are_refused_naming_the_file(tmp_path):
    data = save_checkpoint(tmp_path / "good.npz", trained_batchnorm_net(0)).read_bytes()
    model = trained_batchnorm_net(1)
    before = model_state(model)
    for i, (label, damaged) in enumerate(damaged_copies(data)):
        path = tmp_path / f"bad{i}.npz"
        path.write_bytes(damaged)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path, model)
        assert str(path) in str(info.value), label
        assert_state_equal(before, model_state(model))


def test_every_single_byte_flip_in_an_array_is_caught(tmp_path):
    """The zip CRC of each entry covers its data: flip any byte of W1's data and reading fails."""
    path = save_checkpoint(tmp_path / "good.npz", trained_batchnorm_net(0))
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("param/W1.npy")
    # The entry's data follows its 30-byte local header, file name and extra field.
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    rng = np.random.default_rng(0)
    for offset in rng.choice(info.compress_size, 8, replace=False):
        position = start + int(offset)
        path.write_bytes(data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :])
        with pytest.raises(CheckpointError, match="corrupt"):
            read_checkpoint(path)



def _central_entry(data: bytes, name: str) -> int:
    """Offset of ``name``'s record in the zip's central directory."""
    position = data.index(b"PK\x01\x02")
    while True:
        name_len = int.from_bytes(data[position + 28 : position + 30], "little")
        if data[position + 46 : position + 46 + name_len] == name.encode():
            return position
        position = data.index(b"PK\x01\x02", position + 4)


@pytest.mark.parametrize(
    "damage, field, value",
    [
        ("a zip version no reader knows", 6, b"\xff\x00"),  # zipfile: NotImplementedError
        ("an unknown compression method", 10, b"\x63\x00"),  # zipfile: NotImplementedError
        ("the encrypted flag", 8, b"\x01\x00"),  # zipfile: RuntimeError, password required
    ],
)
def test_damaged_zip_records_are_checkpoint_errors(tmp_path, damage, field, value):
    # Found by fuzzing a checkpoint: these reached the caller as zipfile's own exceptions.
    path = save_checkpoint(tmp_path / "good.npz", trained_batchnorm_net(0))
    data = bytearray(path.read_bytes())
    entry = _central_entry(bytes(data), "metadata.npy")
    data[entry + field : entry + field + 2] = value
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="is corrupt or truncated") as info:
        read_checkpoint(path)
    assert str(path) in str(info.value), damage


def test_a_damaged_array_header_is_a_checkpoint_error(tmp_path):
    # An .npy header whose dict never closes: NumPy's parser raised tokenize.TokenError.
    path = save_checkpoint(tmp_path / "good.npz", trained_batchnorm_net(0))
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    header = entries["metadata.npy"]
    entries["metadata.npy"] = header.replace(b"}", b"(", 1)
    assert entries["metadata.npy"] != header
    damaged = tmp_path / "damaged.npz"
    with zipfile.ZipFile(damaged, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    with pytest.raises(CheckpointError, match="is corrupt or truncated") as info:
        read_checkpoint(damaged)
    assert str(damaged) in str(info.value)

def test_object_arrays_are_refused_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    good = save_checkpoint(tmp_path / "good.npz", trained_batchnorm_net(0))
    with np.load(good, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}

    class Boom:
        def __reduce__(self):  # unpickling this would raise: proves nothing is unpickled
            raise AssertionError("unpickled")

    entries["param/W1"] = np.array([{"a": 1}, "x"], dtype=object)
    np.savez(path, **entries)  # np.savez pickles object arrays; the loader must refuse them
    model = trained_batchnorm_net(1)
    before = model_state(model)
    with pytest.raises(CheckpointError, match="Python objects") as info:
        load_checkpoint(path, model)
    assert str(path) in str(info.value)
    assert_state_equal(before, model_state(model))
    # A bare pickle under an .npz name is refused as well.
    pickled = tmp_path / "pickle.npz"
    pickled.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(CheckpointError, match="Python objects"):
        read_checkpoint(pickled)
    with pytest.raises(InvalidTypeError):
        save_checkpoint(tmp_path / "x.npz", trained_batchnorm_net(0), metadata={"obj": Boom()})


def rewrite(path, out, **changes):
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    entries.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del entries[key]
    np.savez(out, **entries)
    return out


def test_inconsistent_files_are_refused(tmp_path):
    good = save_checkpoint(tmp_path / "good.npz", trained_batchnorm_net(0))
    with np.load(good, allow_pickle=False) as npz:
        meta = json.loads(str(npz["metadata"][()]))
    cases = {
        "format version 2": dict(format_version=np.array(2)),
        "no format_version": dict(format_version=None),
        "has no metadata": dict(metadata=None),
        "unreadable metadata": dict(metadata=np.array("{not json")),
        "unreadable metadata (maximum recursion": dict(metadata=np.array("[" * 100_000 + "]" * 100_000)),
        "without a kind": dict(metadata=np.array(json.dumps({**meta, "kind": "other"}))),
        "missing entry param/W1": {"param/W1": None},
        "disagrees with its metadata": {"param/b1": np.zeros(7)},
        "not a float dtype": {"param/b1": np.zeros(6, dtype=np.int64)},
        "does not list": {"param/W9": np.zeros(3)},
    }
    for i, (words, change) in enumerate(cases.items()):
        path = rewrite(good, tmp_path / f"case{i}.npz", **change)
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(path)
        assert words in str(info.value) and str(path) in str(info.value), words
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(CheckpointError, match="single .npy array"):
        read_checkpoint(single)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.npz")


def training_state(**changes) -> TrainingState:
    g = np.random.default_rng(0)
    w = g.standard_normal((3, 2)).astype(np.float32)
    state = dict(
        settings={"batch_size": 4, "update_rule": "adam"},
        params={"W1": w},
        buffers={"running_mean1": np.arange(2.0)},
        best_params={"W1": w + 1},
        best_buffers={"running_mean1": np.ones(2)},
        optim_configs={"W1": {"learning_rate": 0.1 * 0.95**3, "m": w * 2, "t": 12, "flag": True,
                              "name": "x", "none": None, "scale": np.float32(0.5)}},
        epoch=2, iteration=12, best_epoch=1, best_val_acc=0.375,
        loss_history=[float(x) for x in g.standard_normal(12)],
        train_acc_history=[0.1, 0.2, 0.3], val_acc_history=[0.125, 0.375, 0.25],
        solver_rng=np.random.default_rng(1).bit_generator.state,
        model_rng=np.random.Generator(np.random.Philox(2)).bit_generator.state,
        shared_rng=False,
        global_rng=np.random.RandomState(3).get_state(legacy=False),
    )
    state.update(changes)
    return TrainingState(**state)


def test_training_state_round_trip_is_exact(tmp_path):
    state = training_state()
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    write_training_state(paths, state)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    back = read_training_state(paths[0])
    assert back.path == paths[0]
    with np.load(paths[0], allow_pickle=False) as npz:
        for key in ("rng/solver", "rng/model", "rng/global"):
            # A JSON string in a 0-d unicode array: 128-bit integers survive exactly.
            assert npz[key].shape == () and npz[key].dtype.kind == "U"
            assert json.loads(str(npz[key][()]))["bit_generator"] in ("PCG64", "Philox", "MT19937")
    for group in ("params", "buffers", "best_params", "best_buffers"):
        a, b = getattr(state, group), getattr(back, group)
        assert a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)
    config, restored = state.optim_configs["W1"], back.optim_configs["W1"]
    assert list(config) == list(restored)
    for key, value in config.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(restored[key], value) and restored[key].dtype == value.dtype
        else:
            assert type(restored[key]) is type(value) and restored[key] == value, key
    for field in ("settings", "epoch", "iteration", "best_epoch", "best_val_acc", "loss_history",
                  "train_acc_history", "val_acc_history", "shared_rng", "mask_stream_version"):
        assert getattr(back, field) == getattr(state, field), field
    for field in ("solver_rng", "model_rng", "global_rng"):
        a, b = getattr(state, field), getattr(back, field)
        assert json.dumps(a, default=lambda x: x.tolist()) == json.dumps(b, default=lambda x: x.tolist())


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(loss_history=[0.5]), "histories of lengths 1, 3, 3"),
        (dict(solver_rng={"bit_generator": "Mystery", "state": {}}), "'Mystery'"),
        (dict(model_rng={"bit_generator": "PCG64", "state": {"state": 1}}), "malformed"),
        (dict(global_rng={"bit_generator": "MT19937", "state": {"key": np.zeros(3, np.uint32), "pos": 0}}), "global"),
    ],
)
def test_malformed_training_states_are_refused(tmp_path, changes, words):
    path = tmp_path / "t.npz"
    write_training_state([path], training_state(**changes))
    with pytest.raises(CheckpointError) as info:
        read_training_state(path)
    assert words in str(info.value)


def rewrite_metadata(path: Path, change) -> None:
    """Rewrite the checkpoint at ``path`` with ``change(metadata)`` applied to its JSON metadata."""
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    metadata = json.loads(str(entries["metadata"][()]))
    change(metadata)
    entries["metadata"] = np.array(json.dumps(metadata))
    with open(path, "wb") as handle:
        np.savez(handle, **entries)


def test_the_mask_stream_version_is_recorded(tmp_path):
    path = tmp_path / "t.npz"
    write_training_state([path], training_state())
    with np.load(path, allow_pickle=False) as npz:
        assert json.loads(str(npz["metadata"][()]))["mask_stream_version"] == MASK_STREAM_VERSION == 2
    assert read_training_state(path).mask_stream_version == MASK_STREAM_VERSION
    write_training_state([path], training_state(mask_stream_version=1))
    assert read_training_state(path).mask_stream_version == 1


def test_a_checkpoint_from_before_the_mask_stream_field_reads_as_version_2(tmp_path):
    """Every commit that wrote training checkpoints without the field, from f456d2f on, drew version-2
    masks (see TrainingState.mask_stream_version for the earlier ones)."""
    path = tmp_path / "t.npz"
    write_training_state([path], training_state())
    rewrite_metadata(path, lambda metadata: metadata.pop("mask_stream_version"))
    assert read_training_state(path).mask_stream_version == 2


@pytest.mark.parametrize("value", [-1, "2", 2.0, True, [2]])
def test_a_malformed_mask_stream_version_is_refused(tmp_path, value):
    path = tmp_path / "t.npz"
    write_training_state([path], training_state())
    rewrite_metadata(path, lambda metadata: metadata.update(mask_stream_version=value))
    with pytest.raises(CheckpointError, match="mask_stream_version"):
        read_training_state(path)


def test_unstorable_optimizer_state_is_refused(tmp_path):
    state = training_state(optim_configs={"W1": {"callback": print}})
    with pytest.raises(CheckpointError, match="callback"):
        write_training_state([tmp_path / "t.npz"], state)
    assert list(tmp_path.iterdir()) == []


def test_a_model_checkpoint_is_not_a_training_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "m.npz", trained_batchnorm_net(0))
    with pytest.raises(CheckpointError, match="model's parameters only"):
        read_training_state(path)


BIT_GENERATORS = [np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64]


@given(st.sampled_from(BIT_GENERATORS), st.integers(0, 2**64 - 1), st.integers(0, 5))
def test_generator_states_survive_a_checkpoint(cls, seed, draws_before):
    original = np.random.Generator(cls(seed))
    original.standard_normal(draws_before)  # also leaves cached halves (has_uint32) in some states
    original.integers(0, 2**32, draws_before % 2)
    state = training_state(solver_rng=original.bit_generator.state)
    # hypothesis runs many examples per test, so each gets its own folder rather than tmp_path.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g.npz"
        write_training_state([path], state)
        back = read_training_state(path)
    expected = original.random(5)
    same_class = np.random.Generator(cls(0))
    restored = restore_generator(same_class, back.solver_rng)
    assert restored is same_class  # same class: restored in place
    assert np.array_equal(restored.random(5), expected)
    other_cls = BIT_GENERATORS[(BIT_GENERATORS.index(cls) + 1) % len(BIT_GENERATORS)]
    other = np.random.Generator(other_cls(0))
    replaced = restore_generator(other, back.solver_rng)
    assert replaced is not other and type(replaced.bit_generator) is cls
    assert np.array_equal(replaced.random(5), expected)
    assert np.array_equal(restore_generator(None, back.solver_rng).random(5), expected)


def test_a_model_whose_params_are_not_arrays_is_not_called_a_corrupt_file(tmp_path):
    """The model-fit check runs inside the reader, before any array is read; an error in the model is
    the caller's, named as such, not "corrupt" (which is for the file's bytes)."""
    net = trained_batchnorm_net(0)
    path = save_checkpoint(tmp_path / "m.npz", net)

    class ListModel:
        params = {name: w.tolist() for name, w in net.params.items()}

    with pytest.raises(InvalidTypeError, match=r"model.params\['\w+'\] must be a NumPy array, got list"):
        load_checkpoint(path, ListModel())


def test_the_measured_epochs_round_trip(tmp_path):
    path = tmp_path / "t.npz"
    # Epoch 2's end is pending: recorded_epochs is the epoch, and epoch 1 was not measured.
    write_training_state([path], training_state(train_acc_history=[0.1], val_acc_history=[0.125], acc_epochs=[0],
                                                recorded_epochs=2))
    back = read_training_state(path)
    assert (back.acc_epochs, back.recorded_epochs, back.train_acc_history) == ([0], 2, [0.1])
    with np.load(path, allow_pickle=False) as npz:
        assert npz["history/acc_epochs"].dtype == np.int64
        assert json.loads(str(npz["metadata"][()]))["recorded_epochs"] == 2


def test_a_state_without_measured_epochs_is_written_as_every_epoch_measured(tmp_path):
    path = tmp_path / "t.npz"
    write_training_state([path], training_state())
    back = read_training_state(path)
    assert (back.acc_epochs, back.recorded_epochs) == ([0, 1, 2], 3)


def test_a_checkpoint_from_before_the_measured_epochs_reads_as_every_epoch_measured(tmp_path):
    path = tmp_path / "t.npz"
    write_training_state([path], training_state(acc_epochs=[0, 1, 2], recorded_epochs=3))
    rewrite_metadata(path, lambda metadata: metadata.pop("recorded_epochs"))
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files if name != "history/acc_epochs"}
    np.savez(path, **entries)
    back = read_training_state(path)
    assert (back.acc_epochs, back.recorded_epochs) == ([0, 1, 2], 3)
