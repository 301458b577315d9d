"""The data package's public surface and load_dataset."""

from __future__ import annotations

import numpy as np
import pytest

import dropout_lab.data as data
from dropout_lab.data import DATASETS, load_dataset
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError


def test_all_lists_exactly_the_submodules_public_names():
    from dropout_lab.data import _unpickle, cifar10, digits, download, mnist, mnist_download, split

    public = (cifar10, digits, download, mnist, mnist_download, split)
    exported = set().union(*(m.__all__ for m in public))
    assert set(data.__all__) == exported | {"DATASETS", "load_dataset"}
    assert len(data.__all__) == len(set(data.__all__))
    for module in public:
        for name in module.__all__:
            assert getattr(data, name) is getattr(module, name)
    # The restricted unpickler is how the loaders read files, not part of the API.
    assert not set(_unpickle.__all__) & set(data.__all__)


def test_unknown_names_list_the_choices():
    assert DATASETS == ("digits", "cifar10", "mnist")
    with pytest.raises(InvalidArgumentError) as info:
        load_dataset("imagenet")
    assert all(f"'{name}'" in str(info.value) for name in DATASETS) and "imagenet" in str(info.value)
    with pytest.raises(InvalidTypeError, match="name"):
        load_dataset(None)


def test_cifar10_by_name(cifar_dir):
    out = load_dataset("cifar10", num_training=30, num_validation=10, num_test=5, root=cifar_dir)
    expected = data.get_cifar10_data(30, 10, 5, root=cifar_dir)
    assert list(out) == list(expected)
    for key in out:
        assert np.array_equal(out[key], expected[key])


def test_mnist_by_name(mnist_dir):
    out = load_dataset("mnist", num_training=30, num_validation=10, num_test=5, root=mnist_dir)
    expected = data.get_mnist_data(30, 10, 5, root=mnist_dir)
    assert list(out) == list(expected)
    for key in out:
        assert np.array_equal(out[key], expected[key])


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        load_dataset("digits", num_examples=3)
