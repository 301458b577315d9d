"""docs/api.md and every ``__all__`` agree; each listed name imports; nothing internal is exported."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import dropout_lab

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"

# The modules whose ``__all__`` is the public API that docs/api.md lists.
DOCUMENTED = (
    "dropout_lab",
    "dropout_lab.calibration",
    "dropout_lab.checkpoint",
    "dropout_lab.course",
    "dropout_lab.data",
    "dropout_lab.errors",
    "dropout_lab.experiments",
    "dropout_lab.gradcheck",
    "dropout_lab.layers",
    "dropout_lab.models",
    "dropout_lab.optim",
    "dropout_lab.reproduce",
    "dropout_lab.uncertainty",
)

# Helpers the package uses internally, which no ``__all__`` may list (private names are refused too).
INTERNAL = {"ALLOWED_GLOBALS", "restricted_loads", "load_pickle_file", "t_cdf", "t_quantile"}

# "- `name` (`module`, `module`): what it is" -- one line per name.
_LINE = re.compile(r"^- `(?P<name>[A-Za-z_][A-Za-z0-9_]*)` \((?P<modules>[^)]*)\):")


def documented() -> dict[str, set[str]]:
    """module -> the names docs/api.md says it exports."""
    listed: dict[str, set[str]] = {module: set() for module in DOCUMENTED}
    seen: set[str] = set()
    for line in API_DOC.read_text(encoding="utf-8").splitlines():
        match = _LINE.match(line)
        if match is None:
            assert not line.startswith("- `"), f"docs/api.md: cannot read the line {line!r}"
            continue
        name = match["name"]
        assert name not in seen, f"docs/api.md lists {name} twice"
        seen.add(name)
        modules = re.findall(r"`([^`]+)`", match["modules"])
        assert modules, f"docs/api.md: {name} names no module"
        for module in modules:
            assert module in listed, f"docs/api.md: {name} is listed under {module}, not a documented module"
            listed[module].add(name)
    return listed


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_all_matches_the_doc(module_name):
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{module_name}.__all__ repeats a name"
    in_doc = documented()[module_name]
    assert set(exported) - in_doc == set(), f"exported by {module_name} but not in docs/api.md"
    assert in_doc - set(exported) == set(), f"in docs/api.md under {module_name} but not in its __all__"


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_every_listed_name_imports(module_name):
    module = importlib.import_module(module_name)
    for name in documented()[module_name]:
        assert hasattr(module, name), f"{module_name}.{name} is documented but cannot be imported"


def test_a_name_exported_in_several_places_is_one_object():
    owners: dict[str, list[str]] = {}
    for module_name, names in documented().items():
        for name in names:
            owners.setdefault(name, []).append(module_name)
    for name, module_names in owners.items():
        objects = {id(getattr(importlib.import_module(m), name)) for m in module_names}
        assert len(objects) == 1, f"{name} is a different object in {module_names}"


def test_the_top_level_has_one_spelling_per_thing():
    names = [n for n in dropout_lab.__all__ if n != "__version__"]
    by_object: dict[int, list[str]] = {}
    for name in names:
        by_object.setdefault(id(getattr(dropout_lab, name)), []).append(name)
    assert [spellings for spellings in by_object.values() if len(spellings) > 1] == []
    folded = [name.lower() for name in names]
    assert len(folded) == len(set(folded)), "two top-level names differ only in case"
    # The course's spellings live in dropout_lab.course only.
    course = importlib.import_module("dropout_lab.course")
    only_course = set(course.__all__) - set().union(
        *(importlib.import_module(m).__all__ for m in DOCUMENTED if m != "dropout_lab.course")
    )
    assert only_course == {"load_CIFAR_batch", "load_CIFAR10", "get_CIFAR10_data"}
    assert not only_course & set(dir(dropout_lab))


def test_the_course_module_documents_each_of_its_names():
    course = importlib.import_module("dropout_lab.course")
    for name in course.__all__:
        assert f"``{name}``" in course.__doc__, f"dropout_lab.course's docstring does not list {name}"


def _public_modules() -> list[str]:
    names = ["dropout_lab"]
    for info in pkgutil.walk_packages(dropout_lab.__path__, "dropout_lab."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _public_modules())
def test_no_module_exports_an_internal_name(module_name):
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", [])
    private = [name for name in exported if name.startswith("_") and name != "__version__"]
    assert private == [], f"{module_name}.__all__ exports private names"
    assert INTERNAL & set(exported) == set(), f"{module_name}.__all__ exports internal helpers"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ lists {name}, which it does not define"


def test_the_calibration_module_is_not_hidden_by_a_function():
    # calibration_metrics, not calibration: a top-level function named like the module would replace
    # the package's attribute, and ``import dropout_lab.calibration as c`` would give the function.
    import dropout_lab.calibration as calibration_module

    assert calibration_module.__name__ == "dropout_lab.calibration"
    assert calibration_module.calibration_metrics is dropout_lab.calibration_metrics
