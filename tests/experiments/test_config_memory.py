"""Sizes that cannot fit in memory are refused before anything is allocated: the estimate of what one
run needs, its comparison with the machine's memory, and the byte counts in the message."""

from __future__ import annotations

import pytest

from dropout_lab.errors import InvalidArgumentError
from dropout_lab.experiments import ExperimentConfig, cell_data, config, run_experiment

GIB = 1024**3


def test_the_estimate_of_the_exercises_run_on_cifar10():
    """3,072-500-10 with Adam in float32: 1,541,510 parameters, 8 arrays of them (weights, gradients,
    best, next_w, two moments and their next values), a scoring batch of 1,000 examples, 1,500 examples."""
    parts = ExperimentConfig(dataset="cifar10").memory_estimate()
    assert parts == {
        "parameters": 1_541_510 * 8 * 4,
        "activations": 1000 * (3072 + 4 * (500 + 10)) * 4 + 1000 * 8,
        "data": (500 + 1000) * 3072 * 4,
    }
    assert sum(parts.values()) < 100 * 1024**2  # the exercise fits any machine


def test_the_estimate_is_exact_for_sizes_no_float_holds():
    parts = ExperimentConfig(hidden_dims=(10**200,)).memory_estimate()
    assert parts["parameters"] == (64 * 10**200 + 10**200 + 10**200 * 10 + 10) * 8 * 4


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"batch_size": 10**12}, ("batch_size 1000000000000", "7.5 PiB for a step's activations")),
        ({"batch_size": 10**30}, (f"batch_size {10**30}", "10**33 bytes")),
        ({"hidden_dims": (10**12,)}, ("hidden_dims [1000000000000]", "2.1 PiB for the parameters")),
        ({"hidden_dims": (100_000, 100_000)}, ("hidden_dims [100000, 100000]", "298.2 GiB for the parameters")),
    ],
)
def test_a_run_larger_than_the_memory_is_refused_with_the_estimate(monkeypatch, settings, words):
    monkeypatch.setattr(config, "machine_memory", lambda: 16 * GIB)
    with pytest.raises(InvalidArgumentError) as info:
        ExperimentConfig(**settings).check_fits_memory()
    message = str(info.value)
    assert "one run needs about" in message and "more than this machine's 16.0 GiB of memory" in message
    for word in words:
        assert word in message


def test_nothing_is_refused_where_the_memory_is_unknown_or_enough(monkeypatch):
    monkeypatch.setattr(config, "machine_memory", lambda: None)
    ExperimentConfig(batch_size=10**12).check_fits_memory()
    monkeypatch.setattr(config, "machine_memory", lambda: 1 * GIB)
    ExperimentConfig(dataset="cifar10").check_fits_memory()


def test_run_experiment_refuses_before_loading_the_data(monkeypatch):
    def never(*_):
        raise AssertionError("the data were loaded")

    monkeypatch.setattr(cell_data, "_full_data", never)
    monkeypatch.setattr(config, "machine_memory", lambda: 16 * GIB)
    with pytest.raises(InvalidArgumentError, match="batch_size 1000000000000"):
        run_experiment(ExperimentConfig(batch_size=10**12), progress=False)


def test_the_machine_memory_is_the_physical_memory_or_less():
    memory = config.machine_memory()
    assert memory is None or 0 < memory


@pytest.mark.parametrize(
    "n, text",
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (5 * GIB, "5.0 GiB"), (3 * 1024**6, "3.0 EiB"),
     (10**34, "10**34 bytes"), (10**600, "10**600 bytes")],
)
def test_byte_counts_read_in_binary_units(n, text):
    assert config.format_bytes(n) == text
