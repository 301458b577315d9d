"""Shared test settings: the team's CIFAR-10 sample (or a stand-in where it is missing), hypothesis
profiles, and the update kernels (``kernels``: each test that asks runs on both kinds)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
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


def _write_stand_in(folder: Path) -> Path:
    """A cifar-10-batches-py folder shaped like the team's sample: five training batches of 1,000 and
    a test batch of 1,000, uint8 pixels, the ten classes in turn (500 and 100 of each), written in the
    original release's Python 2 pickle format. The pixels are noise plus a per-class brightness, so a
    net can learn the classes as it can on real images."""
    from tests.data._batches import py2_batch

    rng = np.random.default_rng(10)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = np.arange(1000) % 10
        rng.shuffle(labels)
        noise = rng.integers(0, 156, size=(1000, 3072))
        data = (noise + 10 * labels[:, None]).astype(np.uint8)
        (folder / name).write_bytes(py2_batch(data, labels, batch_label=name.encode()))
    return folder


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory) -> Path:
    """The team's sample where it is; without it (a fresh clone on its own), a generated stand-in in the
    same format, so that the loader, split and experiment tests still run on a fresh machine. A
    DROPOUT_LAB_TEST_CIFAR that names no sample is a mistake and fails."""
    path = cifar_sample_dir()
    if (path / "data_batch_1").is_file():
        return path
    if os.environ.get("DROPOUT_LAB_TEST_CIFAR"):
        pytest.fail(f"DROPOUT_LAB_TEST_CIFAR={path} holds no CIFAR-10 sample (no data_batch_1)")
    return _write_stand_in(tmp_path_factory.mktemp("cifar-10-stand-in"))


def mnist_sample_dir() -> Path:
    """The team's MNIST files: $DROPOUT_LAB_TEST_MNIST, else ../shared/data/mnist."""
    env = os.environ.get("DROPOUT_LAB_TEST_MNIST")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> Path:
    """The real MNIST files where they are; without them, a generated stand-in of the same format (1,200
    training and 200 test images), so that the loader tests still run on a fresh machine. A
    DROPOUT_LAB_TEST_MNIST that names no MNIST folder is a mistake and fails."""
    from tests.data._idx import mnist_contents, write_mnist_folder

    path = mnist_sample_dir()
    if (path / "train-images-idx3-ubyte.gz").is_file():
        return path
    if os.environ.get("DROPOUT_LAB_TEST_MNIST"):
        pytest.fail(f"DROPOUT_LAB_TEST_MNIST={path} holds no MNIST files (no train-images-idx3-ubyte.gz)")
    folder = tmp_path_factory.mktemp("mnist-stand-in")
    return write_mnist_folder(folder, mnist_contents(np.random.default_rng(12)))


@pytest.fixture(scope="session")
def mnist_experiment_dir(mnist_dir, tmp_path_factory) -> Path:
    """MNIST as the experiment reads it, whose validation split is the last 10,000 training images: the
    real files, or (without them) a stand-in of 10,200 training images."""
    from tests.data._idx import mnist_contents, write_mnist_folder

    if (mnist_sample_dir() / "train-images-idx3-ubyte.gz").is_file():
        return mnist_dir
    folder = tmp_path_factory.mktemp("mnist-experiment-stand-in")
    return write_mnist_folder(folder, mnist_contents(np.random.default_rng(13), train=10_200, test=100))


@pytest.fixture(params=["numpy", "numba"])
def kernels(request, monkeypatch) -> Iterator[str]:
    """The test runs once with each kind of update kernels, chosen by ``dropout_lab.optim.use_kernels``
    (whatever DROPOUT_LAB_KERNELS said), and DROPOUT_LAB_KERNELS set to the same for the processes
    and threads the test starts (they do not see the calling thread's choice). Numba is a declared
    dependency: where it cannot be imported, the 'numba' run fails rather than silently testing the
    NumPy kernels twice."""
    from dropout_lab.optim import kernels as kernels_in_effect
    from dropout_lab.optim import use_kernels

    monkeypatch.setenv("DROPOUT_LAB_KERNELS", request.param)
    with use_kernels(request.param):
        if kernels_in_effect() != request.param:
            pytest.fail(f"the {request.param} kernels were asked for, but the {kernels_in_effect()} ones run "
                        f"(is numba installed?)")
        yield request.param


@pytest.fixture
def run_python() -> Callable[[str], None]:
    """Run a script in a fresh interpreter (this one's executable) and fail the test with its stderr
    unless it exits 0: for what only a new process shows, such as which modules an import loads."""

    def run(script: str) -> None:
        result = subprocess.run(  # noqa: S603 (this interpreter on a script the test wrote)
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr

    return run


def pytest_report_header(config) -> str:
    path = cifar_sample_dir()
    if (path / "data_batch_1").is_file():
        return f"CIFAR-10 tests: the sample at {path}"
    return f"CIFAR-10 tests: a generated stand-in (no sample at {path}; set DROPOUT_LAB_TEST_CIFAR)"
