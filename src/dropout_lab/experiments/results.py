"""The experiment's results schema: one record per run, the experiment's record, ``results.json``
(written atomically, read back with every field checked), and the journal of finished runs.

While an experiment trains, ``results.json`` is written twice only, at the start and at the end (or
on an interrupt); in between, each finished run is appended to ``runs.jsonl`` as one JSON line and
fsynced, so that the cost of saving a run does not grow with the runs before it. ``--resume`` reads
both (:func:`read_journal`); a last line cut short by a kill is ignored."""

from __future__ import annotations

import json
import math
import os
import platform
import stat
from dataclasses import asdict, dataclass, field
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from .._io import atomic_write_text, read_regular_file
from .._validation import check_keep_prob, check_path, check_seed
from ..errors import DataError, DropoutLabError, InvalidArgumentError, InvalidTypeError
from ..layers.dropout import MASK_STREAM_VERSION
from .config import ExperimentConfig

if TYPE_CHECKING:
    from .stats import KeepProbSummary

RESULTS_NAME = "results.json"
JOURNAL_NAME = "runs.jsonl"
RESULTS_FORMAT = 1
#: The statuses of a run and of a whole experiment, the only ones ``results.json`` holds:
#: 'complete'; 'diverged' (a run's loss or gradients became non-finite); 'interrupted' (stopped, or
#: still training while the file is written: resumable).
RUN_STATUSES = ("complete", "diverged", "interrupted")


def _check_status(name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in RUN_STATUSES:
        raise InvalidArgumentError(f"{name} must be one of {', '.join(RUN_STATUSES)}, got {value!r}")
    return value


@dataclass
class RunResult:
    """One training run. Histories: loss per iteration; accuracies at the epochs ``acc_epochs`` lists
    (None: every epoch, 0 to the last; epoch 0 is measured before training). ``status`` is 'complete',
    'diverged' or 'interrupted'. ``settings``: the swept settings of the run's cell ({} without a sweep).
    ``stop_epoch``: the epoch early stopping ended the run at (None: it ran its whole budget).
    ``test``: the test metrics by weight scaling and MC dropout
    (:func:`~dropout_lab.experiments.evaluation.evaluate_test`; None: not measured, ``mc_samples`` 0).
    ``num_val``: the validation examples each validation accuracy counts."""

    keep_prob: float
    seed: int
    loss_history: list[float]
    train_acc_history: list[float]
    val_acc_history: list[float]
    final_train_acc: float
    final_val_acc: float
    best_val_acc: float
    wall_s: float
    status: str = "complete"
    message: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    acc_epochs: list[int] | None = None
    stop_epoch: int | None = None
    test: dict[str, Any] | None = None
    #: N, the validation examples each validation accuracy counts (None: not recorded, as in files
    #: written before it was); an accuracy moves in steps of 1/N.
    num_val: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> tuple[str, float, int]:
        """The run's key among an experiment's runs (:data:`~dropout_lab.experiments.grid.RunKey`)."""
        from .grid import cell_key

        return (cell_key(self.settings), self.keep_prob, self.seed)

    @property
    def label(self) -> str:
        """``keep 0.5 seed 2``, after the cell's settings in a sweep."""
        from .grid import run_label

        return run_label(self.settings, self.keep_prob, self.seed)

    @property
    def epochs_done(self) -> int:
        """The epochs the run trained (its last measurement's epoch)."""
        if self.acc_epochs is not None:
            return self.acc_epochs[-1] if self.acc_epochs else 0
        return max(len(self.train_acc_history) - 1, 0)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunResult:
        """Inverse of :meth:`to_dict`, checking every field (records come from files)."""
        if not isinstance(values, dict):
            raise InvalidTypeError(f"a run record must be a JSON object, got {type(values).__name__}")
        fields = list(cls.__dataclass_fields__)
        required = fields[:-7]  # status, message, settings, acc_epochs, stop_epoch, test and num_val have defaults
        missing = [f for f in required if f not in values]
        if missing:
            raise InvalidArgumentError(f"a run record lacks {', '.join(missing)}")
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise InvalidArgumentError(f"a run record has unknown fields: {', '.join(unknown)}")
        check_keep_prob("keep_prob", values["keep_prob"])
        if check_seed("seed", values["seed"]) is None:
            raise InvalidArgumentError("seed of a run record must be an integer, got None")
        # JSON reads Infinity and 1e999 as infinite floats and 10**400 as an int no float can hold:
        # none is a value dropout-lab writes (it writes finite numbers only), and each would break the
        # summary's arithmetic later.
        for name in ("loss_history", "train_acc_history", "val_acc_history"):
            history = values[name]
            if not isinstance(history, list):
                raise InvalidArgumentError(f"{name} of a run record must be a list of numbers")
            for i, v in enumerate(history):
                if not _is_finite_number(v):
                    raise InvalidArgumentError(
                        f"{name} of a run record must be a list of finite numbers; item {i} is {_describe_number(v)}"
                    )
        for name in ("final_train_acc", "final_val_acc", "best_val_acc", "wall_s"):
            if not _is_finite_number(values[name]):
                raise InvalidArgumentError(
                    f"{name} of a run record must be a finite number, got {_describe_number(values[name])}"
                )
        _check_status("status of a run record", values.get("status", "complete"))
        if values.get("message") is not None and not isinstance(values["message"], str):
            raise InvalidArgumentError("message of a run record must be a string or null")
        settings = values.get("settings", {})
        if not isinstance(settings, dict) or not all(isinstance(k, str) for k in settings):
            raise InvalidArgumentError("settings of a run record must be a JSON object")
        epochs = values.get("acc_epochs")
        if epochs is not None and (
            not isinstance(epochs, list)
            or len(epochs) != len(values["train_acc_history"])
            or any(isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in epochs)
        ):
            raise InvalidArgumentError(
                "acc_epochs of a run record must be null or a list of epochs, one per accuracy measurement"
            )
        if values.get("test") is not None:
            _check_test_record(values["test"])
        stop = values.get("stop_epoch")
        if stop is not None and (isinstance(stop, bool) or not isinstance(stop, int) or stop < 0):
            raise InvalidArgumentError(f"stop_epoch of a run record must be null or an epoch, got {stop!r}")
        num_val = values.get("num_val")
        if num_val is not None and (isinstance(num_val, bool) or not isinstance(num_val, int) or num_val < 1):
            raise InvalidArgumentError("num_val of a run record must be null or a positive integer")
        return cls(**values)


def _check_test_record(test: Any) -> None:
    """A run record's ``test`` (:func:`~dropout_lab.experiments.evaluation.evaluate_test`'s shape):
    ``num_test`` and ``mc_samples`` positive integers, and per inference a finite accuracy, Brier score
    and ECE, and an NLL that is finite or null."""
    what = ("test of a run record must be an object with num_test, mc_samples, weight_scaling and mc, each "
            "inference with a finite accuracy, nll (or null), brier and ece")  # fmt: skip
    if not isinstance(test, dict) or set(test) != {"num_test", "mc_samples", "weight_scaling", "mc"}:
        raise InvalidArgumentError(what)
    for name in ("num_test", "mc_samples"):
        if isinstance(test[name], bool) or not isinstance(test[name], int) or test[name] < 1:
            raise InvalidArgumentError(f"{what}; {name} is {_describe_number(test[name])}")
    for how in ("weight_scaling", "mc"):
        metrics = test[how]
        if not isinstance(metrics, dict) or set(metrics) != {"accuracy", "nll", "brier", "ece"}:
            raise InvalidArgumentError(f"{what}; {how} is not")
        for name, value in metrics.items():
            if not (_is_finite_number(value) or (name == "nll" and value is None)):
                raise InvalidArgumentError(f"{what}; {how}.{name} is {_describe_number(value)}")


def _is_finite_number(value: Any) -> bool:
    """A real number (not a bool) that a float holds finitely."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the floats' range
        return False


def _describe_number(value: Any) -> str:
    """``value`` for an error message; an int too large for a float by its size (printing an int of
    thousands of digits is refused by Python, and would not fit on one line)."""
    if isinstance(value, int) and not isinstance(value, bool) and not _is_finite_number(value):
        return f"an integer of {value.bit_length()} bits, too large for a float"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def versions() -> dict[str, str]:
    """What a result's numbers depend on besides its settings: dropout-lab's, NumPy's and Python's
    versions, the dropout masks' stream (:data:`~dropout_lab.layers.dropout.MASK_STREAM_VERSION`), and
    NumPy's BLAS: ``blas`` (its implementation and version, ``openblas 0.3.31``) and ``blas_kernel``
    (the CPU kernel it chose at load, ``Haswell``), since another BLAS or kernel may round a product
    differently. (The threads each run used are the config's ``threads_per_run``.)"""
    blas, kernel = _numpy_blas()
    return {
        "dropout_lab": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "mask_stream": str(MASK_STREAM_VERSION),
        "blas": blas,
        "blas_kernel": kernel,
    }


def _numpy_blas() -> tuple[str, str]:
    """NumPy's BLAS as threadpoolctl sees it: ('openblas 0.3.31', 'Haswell'); 'unknown' for what it
    cannot tell. Several BLAS libraries may be loaded (SciPy brings its own): NumPy's is the one in
    its wheel's folder; failing that, every one loaded is listed."""
    from threadpoolctl import threadpool_info

    libraries = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    own = [info for info in libraries if "numpy" in Path(str(info.get("filepath", ""))).parent.name]
    chosen = own or libraries
    if not chosen:
        return "unknown", "unknown"
    names = sorted({f"{info.get('internal_api', 'unknown')} {info.get('version') or 'unknown'}" for info in chosen})
    kernels = sorted({str(info.get("architecture") or info.get("corecore_type") or "unknown") for info in chosen})
    return "; ".join(names), "; ".join(kernels)


@dataclass
class ExperimentResults:
    """What :func:`~dropout_lab.experiments.run_experiment` returns and writes to ``results.json``.

    ``status``: 'complete', 'interrupted' (stopped by a signal, or still training when the file was
    written; resumable) or 'diverged' (a run's loss or gradients became non-finite; the other runs
    completed).
    """

    config: ExperimentConfig
    runs: list[RunResult]
    status: str = "complete"
    versions: dict[str, str] = field(default_factory=versions)
    #: The folder the results were written to (None: none); not part of ``results.json``.
    out_dir: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_status("status", self.status)

    @property
    def summary(self) -> list[KeepProbSummary]:
        """The summary of an experiment without a sweep (one per keep probability); a sweep has one per
        cell (:attr:`cell_summaries`)."""
        if self.config.sweep:
            raise InvalidArgumentError("a sweep has a summary per cell: use cell_summaries")
        return self.cell_summaries[0][1]

    @property
    def cell_summaries(self) -> list[tuple[dict[str, Any], list[KeepProbSummary]]]:
        """Per cell of the grid, in order: its swept settings and the summary of its complete runs,
        each keep probability against the cell's own keep 1 (paired by seed)."""
        from .grid import cell_key
        from .stats import summarize  # SciPy and the statistics load only when a summary is asked for

        by_cell: dict[str, list[RunResult]] = {}
        for run in self.runs:
            if run.status == "complete":
                by_cell.setdefault(cell_key(run.settings), []).append(run)
        return [(settings, summarize(by_cell.get(cell_key(settings), []))) for settings, _ in self.config.cells()]

    def to_dict(self) -> dict[str, Any]:
        """``results.json``: the config, the grid (the swept settings and their values), a summary per
        cell, and every run; without a sweep also ``summary``, the one cell's."""
        from .stats import summary_to_dict

        cells = self.cell_summaries
        out: dict[str, Any] = {
            "format": RESULTS_FORMAT,
            "status": _check_status("status", self.status),
            "config": self.config.to_dict(),
            "versions": self.versions,
            "grid": self.config.to_dict()["sweep"],
            "cells": [{"settings": settings, "summary": summary_to_dict(summary)} for settings, summary in cells],
        }
        if not self.config.sweep:
            out["summary"] = summary_to_dict(cells[0][1])
        out["runs"] = [r.to_dict() for r in self.runs]
        return out


# The most a results file or a journal may hold when read back: far more than any experiment writes
# (a run's histories take tens of kilobytes; 1,600 runs of the exercise, about 40 MB), far less than
# what reading a runaway file (a link to /dev/zero) would take before failing.
MAX_RESULTS_BYTES = 1 << 30


def read_results(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``results.json`` from an experiment folder: its format, status, config and run
    records."""
    path = check_path("out_dir", out_dir) / RESULTS_NAME
    try:
        os.lstat(path)
    except FileNotFoundError as exc:
        raise DataError(f"{path} does not exist: is {out_dir} an experiment's output folder?") from exc
    except OSError:
        pass  # read_regular_file names the reason (out_dir is a file, say)
    data = read_regular_file(path, max_bytes=MAX_RESULTS_BYTES, what="the results file", error=DataError)
    try:
        values = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: JSON, or an int of 4,301+ digits
        raise DataError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(values, dict) or values.get("format") != RESULTS_FORMAT or "config" not in values:
        raise DataError(f"{path} is not a dropout-lab results file (format {RESULTS_FORMAT})")
    parse_results(values, path)
    return values


def parse_results(values: dict[str, Any], path: Path) -> tuple[ExperimentConfig, list[RunResult]]:
    """The config and run records of a results file's ``values``; DataError naming ``path`` if any is
    malformed, a pair repeats or lies outside the config's keep_probs x seeds."""
    try:
        config = ExperimentConfig.from_dict(values["config"])
        runs = values.get("runs", [])
        if not isinstance(runs, list):
            raise InvalidArgumentError(f"runs must be a list of run records, got {type(runs).__name__}")
        records = []
        for i, record in enumerate(runs):
            try:
                records.append(RunResult.from_dict(record))
            except DropoutLabError as exc:
                raise InvalidArgumentError(f"runs[{i}]: {exc}") from exc
        versions = values.get("versions")
        recorded = versions.get("mask_stream") if isinstance(versions, dict) else None
        # Files written before the stream was recorded drew version 2's masks (see TrainingState).
        recorded = str(MASK_STREAM_VERSION) if recorded is None else recorded
        if recorded != str(MASK_STREAM_VERSION):
            # The finished runs drew other masks than this version would: resuming would mix the two.
            raise InvalidArgumentError(
                f"its runs drew dropout masks from mask stream {recorded!r}, this dropout-lab draws from "
                f"{MASK_STREAM_VERSION}; start a new experiment (another --out)"
            )
        status = values.get("status")
        # Earlier releases wrote 'running' while training; a file that still says so was interrupted.
        _check_status("status", "interrupted" if status == "running" else status)
    except DropoutLabError as exc:
        raise DataError(f"{path}: {exc}") from exc
    keys = [r.key for r in records]
    if len(set(keys)) != len(keys):
        raise DataError(f"{path}: a run (cell, keep_prob, seed) appears twice among the runs")
    expected = _run_keys(config)
    unknown = [r.label for r, key in zip(records, keys, strict=True) if key not in expected]
    if unknown:
        raise DataError(f"{path}: runs {unknown} are not among the config's runs (keep_probs x seeds x the sweep)")
    return config, records


def write_results(results: ExperimentResults, out_dir: Path) -> None:
    """Write ``out_dir/results.json`` atomically (a reader sees the old file or the new, never a part)."""
    text = json.dumps(results.to_dict(), indent=2, allow_nan=False, default=_json_default)
    atomic_write_text(out_dir / RESULTS_NAME, text + "\n")


def _run_line(run: RunResult) -> bytes:
    return (json.dumps(run.to_dict(), allow_nan=False, default=_json_default) + "\n").encode()


class RunJournal:
    """``out_dir/runs.jsonl``, emptied when opened: :meth:`append` adds one run as one JSON line and
    fsyncs it (a line is whole once its newline is written; a kill midway leaves a last line without
    one, which :func:`read_journal` ignores)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / JOURNAL_NAME
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        self._fd = os.open(self.path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o666)

    def append(self, run: RunResult) -> None:
        data = memoryview(_run_line(run))
        while data:
            data = data[os.write(self._fd, data) :]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_journal(out_dir: Path, config: ExperimentConfig) -> list[RunResult]:
    """The runs ``out_dir/runs.jsonl`` records, in the order they finished (none if there is no
    journal). A last line without its newline (the process was killed while appending it) is ignored;
    DataError names the line of any other that is malformed or lies outside the config's runs."""
    path = out_dir / JOURNAL_NAME
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            raise DataError(f"{path} is not a regular file")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    data = read_regular_file(path, max_bytes=MAX_RESULTS_BYTES, what="the run journal", error=DataError)
    expected = _run_keys(config)
    lines = data.split(b"\n")[:-1]  # what follows the last newline is a torn append, or nothing
    runs = []
    for number, line in enumerate(lines, 1):
        try:
            run = RunResult.from_dict(json.loads(line))
        except (ValueError, RecursionError, DropoutLabError) as exc:
            raise DataError(f"{path}, line {number}: {exc}") from exc
        if run.key not in expected:
            raise DataError(f"{path}, line {number}: run {run.label} is not among the config's runs "
                            "(keep_probs x seeds x the sweep)")
        runs.append(run)
    return runs


def _run_keys(config: ExperimentConfig) -> set[tuple[str, float, int]]:
    from .grid import expand

    return {spec.key for spec in expand(config)}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
