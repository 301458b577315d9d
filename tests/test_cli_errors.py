"""The command line under user errors: every one (a bad option value, an unknown option, a missing or
unreadable data folder, an unwritable output folder, a corrupt results.json or checkpoint, a folder
that is not an experiment) gets exactly one line on stderr naming the problem and exit status 2, with
no traceback; a bug keeps its traceback and exit status 1.

The cases are one table, run in-process (``dropout_lab.cli.main``) in a temporary working folder;
a few also run as real processes. ``docs/errors.md`` lists the same table with the line each case
prints (``python docs/make_errors_table.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest

from dropout_lab import cli
from dropout_lab.experiments import cell_data, results, runner
from dropout_lab.experiments import config as config_module
from dropout_lab.experiments.outdir import LOCK_NAME

from .data._batches import write_cifar_folder
from .experiments.test_faults import corrupt_checkpoint, edit_config, make_interrupted
from .test_bad_inputs import Tmp, _garbage_cifar, _payload_cifar

VENV_SCRIPT = Path(sys.executable).with_name("dropout-lab")
PARTIAL_CHECKPOINT = "checkpoints/keep0.5_seed0_latest.npz"


@dataclass(frozen=True)
class CliCase:
    """One user error on the command line.

    words: texts the one stderr line must contain. setup: makes files in the working folder first.
    patch: a context manager to run under (simulating a full disk, a folder without permission).
    writes: the command may legitimately create files (a data folder it was asked to make).
    keeps: files (relative to the working folder) that must survive unchanged whatever else happens.
    """

    bad: str
    argv: tuple
    words: tuple
    setup: Callable[[Path], None] | None = None
    patch: Callable[[Path], ContextManager] | None = None
    writes: bool = False
    keeps: tuple = ()
    help_on_stdout: bool = False

    @property
    def id(self) -> str:
        return self.bad


CLI_CASES: list[CliCase] = []


def bad(what: str, argv: list, *words: str, **options: Any) -> None:
    CLI_CASES.append(CliCase(what, tuple(argv), words, **options))


# ----------------------------------------------------------------------------------- option values
EXP = ["experiment", "--quiet"]
for option, value, words in (
    ("--keep-probs", "0", ("--keep-probs item 1 is", "KEEPING", "(0, 1]", "0.0")),
    ("--keep-probs", "1.5", ("--keep-probs item 1 ", "1.5")),
    ("--keep-probs", "nan", ("--keep-probs item 1 ", "nan")),
    ("--keep-probs", "1,0.5,1", ("--keep-probs must not", "repeat", "[1.0, 0.5, 1.0]")),
    ("--keep-probs", "abc", ("--keep-probs", "keep probabilities", "'abc'")),
    ("--keep-probs", ",", ("--keep-probs", "','")),
    ("--hidden-dims", "0", ("--hidden-dims item 1 ", "positive integer", "0")),
    ("--hidden-dims", "64,-3", ("--hidden-dims item 2 ", "-3")),
    ("--hidden-dims", "1.5", ("--hidden-dims", "layer sizes", "'1.5'")),
    ("--num-train", "0", ("--num-train", "positive integer", "0")),
    ("--num-train", "ten", ("--num-train", "'ten'")),
    ("--num-val", "-5", ("--num-val", "-5")),
    ("--epochs", "0", ("--epochs", "positive integer", "0")),
    ("--epochs", "-1", ("--epochs", "-1")),
    ("--epochs", "2.5", ("--epochs", "'2.5'")),
    ("--batch-size", "0", ("--batch-size", "0")),
    ("--lr", "0", ("--lr must", "> 0", "0.0")),
    ("--lr", "nan", ("--lr must", "finite", "nan")),
    ("--lr", "inf", ("--lr must", "finite", "inf")),
    ("--lr", "fast", ("--lr", "'fast'")),
    ("--weight-scale", "0", ("--weight-scale must", "0.0")),
    ("--reg", "-1", ("--reg must", ">= 0", "-1.0")),
    ("--reg", "nan", ("--reg must", "nan")),
    ("--update-rule", "adamw", ("--update-rule must", "adam, rmsprop, sgd, sgd_momentum", "'adamw'")),
    ("--dtype", "float16", ("--dtype must", "float32 or float64", "float16")),
    ("--dtype", "double-ish", ("--dtype must", "'double-ish'")),
    ("--dataset", "imagenet", ("--dataset must", "digits, cifar10, mnist", "'imagenet'")),
    ("--seed", "-1", ("--seed", "non-negative integer", "-1")),
    ("--seed", "4294967296", ("--seed must", "2**32", "4294967296")),
    ("--seeds", "0", ("--seeds", "positive integer", "0")),
    ("--seeds", "1000000000", ("--seeds", "at most 100000 seeds", "at most 100000 runs", "1000000000")),
    ("--threads-per-run", "0", ("--threads-per-run", "positive integer", "0")),
    ("--threads-per-run", "5000", ("--threads-per-run must", "at most 1024", "5000")),
    ("--jobs", "0", ("--jobs", "positive integer", "0")),
    ("--jobs", "two", ("--jobs", "'two'")),
    ("--out", "", ("--out", "expected a folder", "''")),
    ("--resume", "", ("--resume", "expected a folder", "''")),
    ("--config", "", ("--config", "expected a file", "''")),
    ("--scheduler", "", ("--scheduler", "expected a Dask scheduler's address", "''")),
    ("--num-train", "100,0", ("--num-train", "positive integer", "0")),
    ("--num-train", "100,100", ("--num-train must not repeat", "[100, 100]")),
    ("--lr", "1e-3,-1", ("--lr item 2 ", "> 0", "-1.0")),
    ("--steps", "0", ("--steps", "positive integer", "0")),
    ("--eval-every", "0", ("--eval-every", "positive integer", "0")),
    ("--input-keep-prob", "0", ("--input-keep-prob is", "KEEPING", "(0, 1]", "0.0")),
    ("--input-keep-prob", "1,0", ("--input-keep-prob item 2 ", "(0, 1]", "0.0")),
    ("--dataset", "digits,imagenet", ("--dataset item 2 ", "digits, cifar10, mnist", "'imagenet'")),
    ("--momentum", "0.9", ("--momentum 0.9 is a setting of update_rule 'sgd_momentum' only", "'adam'")),
    ("--momentum", "high", ("--momentum", "'high'")),
    ("--lr-decay", "0", ("--lr-decay must", "> 0", "0.0")),
    ("--lr-decay", "1.5", ("--lr-decay must lie in (0, 1]", "1.5")),
    ("--lr-decay", "0.9,1.01", ("--lr-decay item 2 ", "(0, 1]", "1.01")),
    ("--momentum-schedule", "linear:0.5", ("--momentum-schedule must be", "linear:START:EPOCHS", "'linear:0.5'")),
    ("--momentum-schedule", "linear:0.5:500", ("--momentum-schedule 'linear:0.5:500' is a setting", "'adam'")),
):
    bad(f"experiment {option} {value!r}", [*EXP, option, value], *words)
SGDM = [*EXP, "--update-rule", "sgd_momentum"]
bad("experiment --update-rule sgd_momentum --momentum 1", [*SGDM, "--momentum", "1"], "--momentum must lie in [0, 1)",
    "1.0")
bad("experiment --update-rule sgd_momentum --momentum 0.5,1", [*SGDM, "--momentum", "0.5,1"], "--momentum item 2 ",
    "[0, 1)", "1.0")
bad("experiment --update-rule sgd_momentum --momentum-schedule linear:1:10", [*SGDM, "--momentum-schedule",
    "linear:1:10"], "--momentum-schedule 'linear:1:10': start must lie in [0, 1)", "1.0")
bad("experiment --update-rule sgd,sgd_momentum --momentum 0.9", [*EXP, "--update-rule", "sgd,sgd_momentum",
    "--momentum", "0.9"], "--momentum 0.9 is a setting of update_rule 'sgd_momentum' only", "'sgd'")
bad("experiment --hidden-dims 8 8,0", [*EXP, "--hidden-dims", "8", "8,0"], "--hidden-dims item 2, layer 2 ",
    "positive integer", "got 0")
bad("experiment --lr=-1e-3", [*EXP, "--lr=-1e-3"], "--lr must", "-0.001")
bad("experiment --lr -1e-3 (argparse takes -1e-3 for an option)", [*EXP, "--lr", "-1e-3"], "--lr",
    "expected one argument")
bad("experiment --seed 1 --seeds 2", [*EXP, "--seed", "1", "--seeds", "2"], "--seeds", "not allowed with argument --seed")
bad("experiment --num-train 100000, more than the digits hold", [*EXP, "--num-train", "100000", "--out", Tmp("out")],
    "--num-train must", "at most 1000", "100000")
# Sizes no memory holds: refused before anything is loaded or allocated, against a machine of 16 GiB.
for option, value, words in (
    ("--batch-size", "1000000000000", ("(--batch-size 1000000000000)", "7.5 PiB")),
    ("--batch-size", str(10**30), (f"(--batch-size {10**30})", "10**33 bytes")),
    ("--hidden-dims", "1000000000000", ("(--hidden-dims [1000000000000])", "2.1 PiB for the parameters")),
):
    bad(f"experiment {option} {value}, more than the memory holds", [*EXP, option, value, "--out", Tmp("out")],
        *words, "one run needs about", "more than this machine's 16.0 GiB of memory",
        patch=lambda folder: mock.patch.object(config_module, "machine_memory", lambda: 16 * 1024**3))
bad("experiment --num-val 100000, more than the digits hold", [*EXP, "--num-val", "100000", "--out", Tmp("out")],
    "--num-val must", "at most 397", "100000")

# -------------------------------------------------------------------------------- unknown options
bad("an unknown option", ["experiment", "--bogus"], "unrecognized arguments: --bogus")
bad("an unknown command", ["train"], "invalid choice: 'train'")
bad("no command at all", [], "choose a command", help_on_stdout=True)
bad("an option without its value", ["experiment", "--epochs"], "--epochs", "expected one argument")
bad("data without an action", ["data"], "choose an action: download")
bad("data download of an unknown data set", ["data", "download", "imagenet"], "invalid choice: 'imagenet'")
bad("check with an option it does not take", ["check", "--fast"], "unrecognized arguments: --fast")


# ------------------------------------------------------------------------------------------- data
def _file(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(b"not a folder")


def _no_test_batch(folder: Path) -> None:
    # More rows than the validation split needs, so the first thing found missing is test_batch.
    write_cifar_folder(folder / "cifar", np.random.default_rng(0), rows=1001, train_batches=1)
    (folder / "cifar" / "test_batch").unlink()


def _tiny_cifar(folder: Path) -> None:
    write_cifar_folder(folder / "cifar", np.random.default_rng(0), rows=10, train_batches=1)


def _batch_of(folder: Path, data: bytes) -> None:
    """A CIFAR-10 folder whose data_batch_1 is ``data``."""
    write_cifar_folder(folder / "cifar", np.random.default_rng(0), rows=10, train_batches=1)
    (folder / "cifar" / "data_batch_1").write_bytes(data)


def _hash_bomb(levels: int = 60) -> bytes:
    """A dict whose key is ``t = (0,)``, then ``levels`` times ``t = (t, t)``: hashing it visits
    ``2**levels`` tuples. Made by hand: pickle.dumps of the dict would hash the key."""
    key: tuple = (0,)
    for _ in range(levels):
        key = (key, key)
    return b"\x80\x02}" + pickle.dumps(key, protocol=2)[2:-1] + b"K\x01s."


CIFAR = [*EXP, "--dataset", "cifar10", "--epochs", "1", "--out", Tmp("out"), "--data-dir"]
bad("a --data-dir that does not exist", [*CIFAR, Tmp("missing")], "CIFAR-10 not found", "missing", "pass --data-dir",
    "dropout-lab data download cifar10")
bad("a --data-dir that is a file", [*CIFAR, Tmp("file")], "CIFAR-10 not found", "file", setup=_file("file"))
bad("a --data-dir whose batches are not CIFAR-10 pickles", [*CIFAR, Tmp("cifar")], "data_batch_1", setup=_garbage_cifar)
bad("a --data-dir whose batch would run os.system", [*CIFAR, Tmp("cifar")], "data_batch_1", "refused", "os",
    setup=_payload_cifar)
bad("a --data-dir whose batch has a 5,000-digit integer key", [*CIFAR, Tmp("cifar")], "data_batch_1", "refused",
    "more than 64 nodes", setup=lambda folder: _batch_of(folder, pickle.dumps({10**5000: 1}, protocol=2)))
bad("a --data-dir whose batch has a key that would take centuries to hash", [*CIFAR, Tmp("cifar")], "data_batch_1",
    "refused", "hashes a dict key", setup=lambda folder: _batch_of(folder, _hash_bomb()))
bad("a --data-dir without test_batch", [*CIFAR, Tmp("cifar")], "test_batch", "incomplete", setup=_no_test_batch)
bad("a --data-dir with too few images for the validation split", [*CIFAR, Tmp("cifar")], "holds 10 training images",
    setup=_tiny_cifar)
bad("data download --data-dir that is a file", ["data", "download", "cifar10", "--quiet", "--data-dir", Tmp("file")],
    "cannot create the data folder", "file", setup=_file("file"))
bad("data download --url that is not http(s)", ["data", "download", "cifar10", "--url", "ftp://example.org/c.tar.gz",
                                               "--data-dir", Tmp("data")], "url", "'ftp://example.org/c.tar.gz'")
bad("data download from a server that refuses the connection",
    ["data", "download", "cifar10", "--quiet", "--url", "http://127.0.0.1:9/c.tar.gz", "--data-dir", Tmp("data")],
    "could not download http://127.0.0.1:9/c.tar.gz", "refused", "--from FILE", writes=True)


def _mnist_at_hand(change: str = "") -> Callable[[Path], None]:
    """A folder 'have' with the four MNIST files; ``change``: 'missing' drops the test labels, 'other'
    puts other (well-formed) test images in, 'truncated' cuts the training images short."""

    def setup(folder: Path) -> None:
        from .data._idx import gz, mnist_contents, write_mnist_folder

        contents = mnist_contents(np.random.default_rng(0), train=20, test=10)
        if change == "other":
            contents["t10k-images-idx3-ubyte.gz"] = mnist_contents(np.random.default_rng(1), 20, 10)[
                "t10k-images-idx3-ubyte.gz"]
        write_mnist_folder(folder / "have", contents)
        if change == "missing":
            (folder / "have" / "t10k-labels-idx1-ubyte.gz").unlink()
        if change == "truncated":
            (folder / "have" / "train-images-idx3-ubyte.gz").write_bytes(gz(contents["train-images-idx3-ubyte.gz"][:-1]))

    return setup


def _stand_in_checksums(folder: Path) -> ContextManager:
    """MNIST's checksums replaced by the stand-in's (of _mnist_at_hand), so that only the changed file fails."""
    from dropout_lab.data import mnist_download

    from .data._idx import mnist_contents

    contents = mnist_contents(np.random.default_rng(0), train=20, test=10)
    md5s = {name: hashlib.md5(data).hexdigest() for name, data in contents.items()}  # noqa: S324 - MNIST's are MD5
    return mock.patch.object(mnist_download, "MNIST_MD5", md5s)


MNIST_FROM = ["data", "download", "mnist", "--quiet", "--data-dir", Tmp("data"), "--from", Tmp("have")]
bad("data download mnist from a server that refuses the connection",
    ["data", "download", "mnist", "--quiet", "--url", "http://127.0.0.1:9/", "--data-dir", Tmp("data")],
    "could not download MNIST's train-images-idx3-ubyte.gz", "http://127.0.0.1:9/train-images-idx3-ubyte.gz",
    "nothing was installed", "--from DIR", writes=True)
bad("data download mnist --from a folder whose test images are not MNIST's", MNIST_FROM, "t10k-images-idx3-ubyte.gz",
    "refused", "MD5", "nothing was installed", setup=_mnist_at_hand("other"), patch=_stand_in_checksums)
bad("data download mnist --from a folder of files that are not MNIST's", MNIST_FROM, "train-images-idx3-ubyte.gz",
    "refused", "expected 6bbc9ace898e44ae57da46a324031adb", "nothing was installed", setup=_mnist_at_hand())
bad("data download mnist --from a folder that lacks a file", MNIST_FROM, "holds neither t10k-labels-idx1-ubyte.gz",
    "--from for mnist", setup=_mnist_at_hand("missing"))
bad("data download mnist --from a folder with a truncated file", MNIST_FROM, "train-images-idx3-ubyte.gz",
    "truncated", setup=_mnist_at_hand("truncated"))
bad("data download mnist --from a file", [*MNIST_FROM[:-1], Tmp("file")], "is not a folder", setup=_file("file"))
bad("data download cifar10 --from a file that is not the archive",
    ["data", "download", "cifar10", "--quiet", "--data-dir", Tmp("data"), "--from", Tmp("c.tar.gz")],
    "c.tar.gz refused", "MD5", "expected c58f30108f718f92721af3b95e74349a", "nothing was installed",
    setup=_file("c.tar.gz"), writes=True)
bad("data download cifar10 --from a folder",
    ["data", "download", "cifar10", "--quiet", "--data-dir", Tmp("data"), "--from", Tmp("")],
    "cannot read the CIFAR-10 archive", "not a regular file", writes=True)
bad("data download with both --url and --from",
    ["data", "download", "mnist", "--url", "http://127.0.0.1:9/", "--from", Tmp("have")],
    "argument --from: not allowed with argument --url")


# ------------------------------------------------------------------------------------- output folder
def _deny_writes(folder: Path) -> ContextManager:
    """os.access says the folder is not writable (the tests may run as root, who could write anyway)."""
    real = os.access
    denied = (folder / "locked").resolve()
    return mock.patch.object(os, "access", lambda p, mode, *a, **k: False if Path(p).resolve() == denied
                             else real(p, mode, *a, **k))


def _results_fail(code: int) -> Callable[[Path], ContextManager]:
    def patch(folder: Path) -> ContextManager:
        def fail(path, text):
            raise OSError(code, os.strerror(code), str(path))

        return mock.patch.object(results, "atomic_write_text", fail)

    return patch


TINY = [*EXP, "--keep-probs", "1", "--hidden-dims", "4", "--num-train", "20", "--epochs", "1"]
bad("--out is an existing file", [*TINY, "--out", Tmp("file")], "cannot create the output folder", "File exists",
    setup=_file("file"))
bad("--out inside a file", [*TINY, "--out", Tmp("file/out")], "cannot create the output folder", "Not a directory",
    setup=_file("file"))
bad("--out a folder without write permission", [*TINY, "--out", Tmp("locked")], "output folder", "locked",
    "not writable", setup=lambda folder: (folder / "locked").mkdir(), patch=_deny_writes)
bad("--out a folder that holds another experiment", [*TINY, "--out", Tmp("exp")], "output folder", "exp",
    "holds another experiment's files", "--resume", "--out", "--force",
    setup=lambda folder: (folder / "exp").mkdir() or (folder / "exp" / "results.json").write_text("{}"))
bad("--out --force a folder whose checkpoints is a link", [*TINY, "--out", Tmp("exp"), "--force"], "checkpoints",
    "symbolic link", "neither followed nor removed",
    setup=lambda folder: (folder / "exp").mkdir() or (folder / "exp" / "checkpoints").symlink_to(folder))
bad("--out --force a folder whose results.json is another program's", [*TINY, "--out", Tmp("exp"), "--force"],
    "results.json was not written by dropout-lab", "left alone",
    setup=lambda folder: (folder / "exp").mkdir() or (folder / "exp" / "results.json").write_text("{}"))
bad("the disk is full when results.json is written", [*TINY, "--out", Tmp("out")], "results.json",
    "No space left on device", patch=_results_fail(errno.ENOSPC), writes=True)
bad("permission denied when results.json is written", [*TINY, "--out", Tmp("out")], "results.json",
    "Permission denied", patch=_results_fail(errno.EACCES), writes=True)
bad("a read-only file system when results.json is written", [*TINY, "--out", Tmp("out")], "results.json",
    "Read-only file system", patch=_results_fail(errno.EROFS), writes=True)


# ------------------------------------------------------------------------------------------- resume
def _results(text: str | bytes) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / "exp").mkdir()
        path = folder / "exp" / "results.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return setup


GOOD_CONFIG = '"config": {"keep_probs": [1.0], "hidden_dims": [4], "num_train": 20, "epochs": 1}'
RESUME = [*EXP, "--resume", Tmp("exp")]
bad("--resume a folder that does not exist", RESUME, "results.json does not exist", "exp")
bad("--resume a folder that is not an experiment", RESUME, "results.json does not exist", "output folder",
    setup=lambda folder: (folder / "exp").mkdir())
bad("--resume a file", RESUME, "results.json", "cannot read", setup=_file("exp"))
bad("--resume: results.json is not JSON", RESUME, "results.json", "cannot be read as JSON", setup=_results("{oops"))
bad("--resume: results.json is not UTF-8", RESUME, "results.json", "cannot be read", setup=_results(b"\xff\xfe{}"))
# json.loads raises RecursionError, not JSONDecodeError, on arrays nested thousands deep.
bad("--resume: results.json nested 100,000 deep", RESUME, "results.json", "cannot be read as JSON", "recursion",
    setup=_results("[" * 100_000 + "]" * 100_000))
bad("--resume: results.json is another program's", RESUME, "results.json", "not a dropout-lab results file",
    setup=_results('{"accuracy": 0.9}'))
bad("--resume: results.json of another format version", RESUME, "results.json", "format 1",
    setup=_results('{"format": 2, ' + GOOD_CONFIG + "}"))
bad("--resume: results.json whose config is a list", RESUME, "config", "list", setup=_results('{"format": 1, "config": []}'))
bad("--resume: results.json whose config has epochs 0", RESUME, "epochs", "0",
    setup=_results('{"format": 1, "config": {"epochs": 0}}'))
bad("--resume: results.json with an unknown setting", RESUME, "unknown experiment settings", "colour",
    setup=_results('{"format": 1, "config": {"colour": "red"}}'))
bad("--resume: results.json whose runs are not run records", RESUME, "results.json", "runs",
    setup=_results('{"format": 1, ' + GOOD_CONFIG + ', "runs": [{"keep_prob": 1.0}]}'))
bad("--resume: results.json whose runs is a string", RESUME, "results.json", "runs",
    setup=_results('{"format": 1, ' + GOOD_CONFIG + ', "runs": "all of them"}'))
_RUN = ('{"keep_prob": 1.0, "seed": 0, "loss_history": %s, "train_acc_history": [0.5], "val_acc_history": [0.5], '
        '"final_train_acc": 0.5, "final_val_acc": %s, "best_val_acc": 0.5, "wall_s": 1.0}')
# JSON reads Infinity and 1e999 as infinite floats, 10**400 as an int no float holds.
for what, history, accuracy, words in (
    ("Infinity in a loss history", "[2.3, Infinity]", "0.5", ("loss_history", "finite", "item 1 is inf")),
    ("1e999 in a loss history", "[1e999]", "0.5", ("loss_history", "finite", "item 0 is inf")),
    ("NaN in a loss history", "[NaN]", "0.5", ("loss_history", "finite", "item 0 is nan")),
    ("10**400 as an accuracy", "[2.3]", str(10**400), ("final_val_acc", "finite", "integer of 1329 bits")),
):
    bad(f"--resume: results.json with {what}", RESUME, "results.json", "runs[0]", *words,
        setup=_results('{"format": 1, "status": "interrupted", ' + GOOD_CONFIG + ', "runs": [' + _RUN % (history, accuracy) + "]}"))
bad("--resume with --out", [*RESUME, "--out", Tmp("elsewhere")], "--resume", "--out")
bad("--resume with --force", [*RESUME, "--force"], "--resume", "--force")
bad("--resume with --config", [*RESUME, "--config", Tmp("study.toml")], "--resume", "drop --config")

_TEMPLATE: list[Path] = []


def _interrupted(damage: Callable[[Path], Any] | None = None) -> Callable[[Path], None]:
    """An experiment Ctrl-C interrupted (built once, copied), then damaged."""

    def setup(folder: Path) -> None:
        if not _TEMPLATE:
            holder = tempfile.mkdtemp(prefix="dropout-lab-interrupted-")
            atexit.register(shutil.rmtree, holder, True)
            make_interrupted(Path(holder) / "exp")
            _TEMPLATE.append(Path(holder) / "exp")
        shutil.copytree(_TEMPLATE[0], folder / "exp")
        if damage is not None:
            damage(folder / "exp")

    return setup


def _replace_checkpoint(data: bytes) -> Callable[[Path], None]:
    return lambda exp: (exp / PARTIAL_CHECKPOINT).write_bytes(data)


for what, damage, words, keeps in (
    ("a truncated checkpoint", corrupt_checkpoint, ("corrupt or truncated",), ()),
    ("a checkpoint of random bytes", _replace_checkpoint(bytes(range(256)) * 8), ("not an .npz",), ()),
    ("an empty checkpoint", _replace_checkpoint(b""), ("not an .npz", "empty"), ()),
    ("a checkpoint that is a pickle", _replace_checkpoint(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01."),
     ("refused", "pickle"), ()),
):
    bad(f"--resume with {what}", RESUME, *words, "keep0.5_seed0_latest.npz", setup=_interrupted(damage),
        keeps=keeps)

# A results.json edited after the checkpoints were written: the settings saved beside the checkpoints
# (checkpoints/config.json) disagree, and the message names the setting and both values.
for what, changes, words in (
    ("other hidden layers", {"hidden_dims": [16]}, ("hidden_dims: [32] there", "[16] in results.json")),
    ("another batch size", {"batch_size": 10}, ("batch_size: 20 there", "10 in results.json")),
    ("float64", {"dtype": "float64"}, ("dtype: 'float32' there", "'float64' in results.json")),
    ("another update rule", {"update_rule": "sgd"}, ("update_rule: 'adam' there", "'sgd' in results.json")),
    ("another learning rate", {"learning_rate": 0.1}, ("learning_rate", "0.1 in results.json")),
    ("another reg", {"reg": 0.5}, ("reg: 0.0 there", "0.5 in results.json")),
):
    bad(f"--resume with results.json from a config with {what}", RESUME, "written with other settings", *words,
        setup=_interrupted(lambda exp, changes=changes: edit_config(exp, **changes)),
        keeps=(f"exp/{PARTIAL_CHECKPOINT}",))

# The epoch budget is no setting of the checkpoints' folder (a resume may add epochs): the checkpoint's
# own run identity refuses a results.json edited to fewer epochs than the checkpoint has done.
bad("--resume with results.json from a config with fewer epochs than done", RESUME, "belongs to another run",
    "epochs: 12 there, 3 here", setup=_interrupted(lambda exp: edit_config(exp, epochs=3)),
    keeps=(f"exp/{PARTIAL_CHECKPOINT}",))

# A resume with settings extends the experiment; one that would drop or change a saved run is refused.
bad("--resume with fewer epochs than the runs trained", [*RESUME, "--epochs", "3"], "--epochs 3 is fewer than the 12",
    setup=_interrupted(lambda exp: None), keeps=(f"exp/{PARTIAL_CHECKPOINT}",))
bad("--resume with another dtype", [*RESUME, "--dtype", "float64"], "not runs of the extended experiment",
    "dtype 'float32' saved, 'float64' now", setup=_interrupted(lambda exp: None), keeps=(f"exp/{PARTIAL_CHECKPOINT}",))
bad("--resume with another steps budget", [*RESUME, "--steps", "50"], "steps None of the saved runs cannot become 50",
    setup=_interrupted(lambda exp: None), keeps=(f"exp/{PARTIAL_CHECKPOINT}",))

bad("--resume with checkpoints/config.json nested 100,000 deep", RESUME, "config.json", "cannot be read",
    "recursion", setup=_interrupted(lambda exp: (exp / "checkpoints" / "config.json").write_text("[" * 100_000)),
    keeps=(f"exp/{PARTIAL_CHECKPOINT}",))


# ---------------------------------------------------------------------------------------- running
def _resolve(argv: tuple, folder: Path) -> list[str]:
    return [str(folder / a.name) if isinstance(a, Tmp) else a for a in argv]


def _tree(folder: Path) -> dict[str, str]:
    # The lock file aside: every process that takes an experiment folder's lock writes its pid there
    # (for the message of one refused it), and a resume takes the lock before it reads the checkpoints.
    return {
        str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.name != LOCK_NAME
    }


@dataclass
class CliOutcome:
    status: int | None
    out: str
    err: str
    error: BaseException | None
    files_before: dict = field(default_factory=dict)
    files_after: dict = field(default_factory=dict)


def run_cli_case(c: CliCase, folder: Path) -> CliOutcome:
    """Run ``c`` in-process with ``folder`` as the working folder; capture stdout and stderr."""
    if c.setup is not None:
        c.setup(folder)
    before = _tree(folder)
    argv = _resolve(c.argv, folder)
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    status, error = None, None
    try:
        with contextlib.ExitStack() as stack:
            if c.patch is not None:
                stack.enter_context(c.patch(folder))
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            stack.enter_context(warnings.catch_warnings())
            warnings.simplefilter("error")
            status = cli.main(argv)
    except BaseException as exc:  # noqa: BLE001 - reported as the outcome
        error = exc
    finally:
        os.chdir(cwd)
    return CliOutcome(status, out.getvalue(), err.getvalue(), error, before, _tree(folder))


def _cases() -> list:
    return [pytest.param(c, id=c.id) for c in CLI_CASES]


def test_case_names_are_unique():
    names = [c.bad for c in CLI_CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("c", _cases())
def test_a_user_error_is_one_line_on_stderr_and_status_2(c: CliCase, tmp_path: Path) -> None:
    outcome = run_cli_case(c, tmp_path)
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert outcome.status == cli.EXIT_USAGE == 2, outcome.err
    lines = outcome.err.splitlines()
    assert len(lines) == 1 and outcome.err.endswith("\n"), outcome.err
    assert lines[0].startswith("dropout-lab")
    for word in c.words:
        assert word in lines[0], f"{word!r} missing from: {lines[0]}"
    assert "Traceback" not in outcome.err
    if c.help_on_stdout:
        assert "usage: dropout-lab" in outcome.out
    else:
        assert outcome.out == ""
    for kept in c.keeps:
        assert outcome.files_after.get(kept) == outcome.files_before[kept], f"{kept} was changed"
    assert not (tmp_path / "ran").exists()  # no payload ran


@pytest.mark.parametrize("c", [p for p in _cases() if not p.values[0].writes])
def test_a_user_error_writes_nothing(c: CliCase, tmp_path: Path) -> None:
    outcome = run_cli_case(c, tmp_path)
    assert outcome.status == 2
    assert outcome.files_after == outcome.files_before


# ---------------------------------------------------------------------------------------- bugs
def test_a_bug_stays_a_traceback_in_process(tmp_path, monkeypatch, capsys):
    def broken(*_):
        raise RuntimeError("a bug in the library")

    monkeypatch.setattr(cell_data, "_full_data", broken)
    with pytest.raises(RuntimeError, match="a bug in the library"):
        cli.main([*TINY, "--out", str(tmp_path / "out")])
    assert capsys.readouterr().err == ""  # main() printed nothing: the traceback is Python's


BUG_SCRIPT = """
import sys
import dropout_lab.experiments.cell_data as cell_data
def broken(*_):
    raise RuntimeError("a bug in the library")
cell_data._full_data = broken
from dropout_lab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_bug_stays_a_traceback_with_status_1(tmp_path):
    argv = [sys.executable, "-c", BUG_SCRIPT, *TINY[:1], *TINY[1:], "--out", str(tmp_path / "out")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)  # noqa: S603 (fixed argv, no shell)
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.rstrip().endswith("RuntimeError: a bug in the library")


def test_an_oserror_that_is_not_the_environment_stays_a_traceback(tmp_path, monkeypatch):
    def broken(path, text):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))

    monkeypatch.setattr(runner, "atomic_write_text", broken)
    with pytest.raises(FileNotFoundError):
        cli.main([*TINY, "--out", str(tmp_path / "out")])


def test_ctrl_c_before_training_starts_exits_130(tmp_path, monkeypatch, capsys):
    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(cell_data, "_full_data", interrupted)
    assert cli.main([*TINY, "--out", str(tmp_path / "out")]) == cli.EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "dropout-lab: interrupted\n"


def test_a_message_with_a_newline_still_prints_one_line(tmp_path, capsys):
    folder = tmp_path / "two\nlines"
    assert cli.main([*EXP, "--resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "two lines" in err


# ------------------------------------------------------------------------------------ real processes
@pytest.mark.parametrize(
    "command, words",
    [
        ([sys.executable, "-m", "dropout_lab.cli", "experiment", "--keep-probs", "0"], "--keep-probs item 1 is"),
        ([sys.executable, "-m", "dropout_lab.cli", "experiment", "--frobnicate"], "unrecognized arguments"),
        ([str(VENV_SCRIPT), "experiment", "--resume", "no-such-folder"], "no-such-folder/results.json does not exist"),
        ([str(VENV_SCRIPT), "experiment", "--lr", "nan", "--quiet"], "--lr must be a finite number"),
    ],
)
def test_user_errors_in_a_real_process(tmp_path, command, words):
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60)  # noqa: S603 (our argv, no shell)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and words in result.stderr
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_misspelt_kernel_choice_in_the_environment_is_a_user_error(tmp_path):
    env = {**os.environ, "DROPOUT_LAB_KERNELS": "fast"}
    result = subprocess.run(
        [sys.executable, "-m", "dropout_lab.cli", "experiment", "--epochs", "1", "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, env=env,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "dropout-lab: error: DROPOUT_LAB_KERNELS must be 'numba' or 'numpy' (or unset), got 'fast'"
    ]
    assert result.stdout == "" and list(tmp_path.iterdir()) == []
