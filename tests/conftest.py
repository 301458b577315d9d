"""Shared test settings: the path to the team's CIFAR-10 sample, and hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_ROOT = Path(__file__).resolve().parent.parent


def cifar_sample_dir() -> Path:
    """The team's CIFAR-10 sample: $DROPOUT_LAB_TEST_CIFAR, else ../shared/data/cifar-10-sample."""
    env = os.environ.get("DROPOUT_LAB_TEST_CIFAR")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data" / "cifar-10-sample"


@pytest.fixture
def cifar_dir() -> Path:
    path = cifar_sample_dir()
    if not (path / "data_batch_1").is_file():
        pytest.fail(
            f"the CIFAR-10 sample is missing at {path}: set DROPOUT_LAB_TEST_CIFAR to a "
            "cifar-10-batches-py folder"
        )
    return path
