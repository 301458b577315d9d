"""The public surface: __all__ lists exactly the public names, each importable from the top level."""

from __future__ import annotations

import subprocess
import sys

import dropout_lab


def test_all_is_honest():
    public = {name for name in vars(dropout_lab) if not name.startswith("_")} | {"__version__"}
    modules = {name for name in public if type(getattr(dropout_lab, name)).__name__ == "module"}
    assert sorted(dropout_lab.__all__) == sorted(public - modules)
    assert len(set(dropout_lab.__all__)) == len(dropout_lab.__all__)
    for name in dropout_lab.__all__:
        assert getattr(dropout_lab, name) is not None


def test_every_public_callable_has_a_docstring():
    for name in dropout_lab.__all__:
        obj = getattr(dropout_lab, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name


def test_importing_the_core_loads_numpy_only():
    code = (
        "import sys, dropout_lab; "
        "heavy = [m for m in ('matplotlib', 'scipy', 'torch', 'sklearn') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(  # noqa: S603 (fixed argv: this interpreter and our code, no shell)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
