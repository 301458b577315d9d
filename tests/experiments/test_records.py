"""Tests for dropout_lab.experiments.records: reading the fields of run records (dicts or objects)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.experiments.records import run_accuracy, run_field, run_keep_prob, run_list, run_seed

RUN = {"keep_prob": 0.5, "seed": 3, "final_val_acc": 0.25}


def test_run_list_takes_any_iterable_of_records():
    assert run_list(iter([RUN, RUN])) == [RUN, RUN]
    assert run_list((RUN,)) == [RUN]
    assert run_list([]) == []


@pytest.mark.parametrize("runs", [RUN, "runs", b"runs", 5, None])
def test_run_list_refuses_a_single_record_a_string_or_a_non_iterable(runs):
    with pytest.raises(InvalidTypeError, match="runs must be a list of run records"):
        run_list(runs)


def test_fields_come_from_keys_or_attributes():
    for run in (RUN, SimpleNamespace(**RUN)):
        assert run_field(run, 0, "seed") == 3
        assert run_keep_prob(run, 0) == 0.5
        assert run_seed(run, 0) == 3
        assert run_accuracy(run, 0, "final_val_acc") == 0.25


def test_a_missing_field_names_the_run_and_the_field():
    with pytest.raises(InvalidArgumentError, match=r"runs\[4\] has no 'wall_s' key \(keys: \['final_val_acc'"):
        run_field(RUN, 4, "wall_s")
    with pytest.raises(InvalidArgumentError, match=r"runs\[2\] \(SimpleNamespace\) has no attribute 'wall_s'"):
        run_field(SimpleNamespace(**RUN), 2, "wall_s")


@pytest.mark.parametrize("seed", [True, 1.0, "1", None])
def test_run_seed_wants_an_integer(seed):
    with pytest.raises(InvalidTypeError, match=r"runs\[1\].seed must be an integer"):
        run_seed({**RUN, "seed": seed}, 1)


@pytest.mark.parametrize(
    ("value", "error"),
    [(True, InvalidTypeError), ("0.5", InvalidTypeError), (-0.1, InvalidArgumentError),
     (1.5, InvalidArgumentError), (math.nan, InvalidArgumentError)],
)
def test_run_accuracy_wants_a_fraction(value, error):
    with pytest.raises(error, match=r"runs\[0\].final_val_acc"):
        run_accuracy({**RUN, "final_val_acc": value}, 0, "final_val_acc")


def test_run_keep_prob_is_a_keep_probability():
    with pytest.raises(InvalidArgumentError, match=r"runs\[0\].keep_prob is the probability of KEEPING"):
        run_keep_prob({**RUN, "keep_prob": 0.0}, 0)


def test_keep_text_is_short_where_exact_and_exact_where_not():
    from dropout_lab.experiments.records import keep_text

    assert [keep_text(k) for k in (1.0, 0.5, 0.25, 0.1)] == ["1", "0.5", "0.25", "0.1"]
    for keep in (0.5000001, 1 / 3, 0.123456789):
        assert float(keep_text(keep)) == keep and keep_text(keep) != f"{keep:g}"
