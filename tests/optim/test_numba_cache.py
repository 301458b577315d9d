"""The compiled kernels' disk cache: a second process loads them instead of compiling them, the cache
lives in a per-user folder (never inside the package), stays bounded, and an unusable folder only
means no cache (same numbers, no warning)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numba

import dropout_lab
from dropout_lab.optim import _numba_cache
from dropout_lab.optim._numba_cache import ENV_VARIABLE, KEEP, cache_root, prepare, prune, version_folder_name

PACKAGE_DIR = Path(dropout_lab.__file__).resolve().parent

# Runs steps of every rule with the compiled kernels (and the NumPy ones, to compare), in a fresh
# process; prints each kernel's cache statistics and whether the two kinds gave the same bits.
PROBE = r"""
import json, sys
import numpy as np
from dropout_lab.optim import _fused, use_kernels
from dropout_lab.optim.rules import output_names, step_into

report = {"same": True}
for dtype in sys.argv[1].split(","):
    for rule in ("sgd", "sgd_momentum", "rmsprop", "adam"):
        g = np.random.default_rng(1)
        w = g.standard_normal((64, 33)).astype(dtype)
        results = []
        for kind in ("numba", "numpy"):
            config, next_w = None, w  # the rule's defaults, zero moments
            with use_kernels(kind):
                for step in range(3):
                    dw = np.random.default_rng(step).standard_normal(w.shape).astype(dtype)
                    out = {key: np.empty(w.shape, dtype=w.dtype) for key in output_names(rule)}
                    next_w, config, _, _ = step_into(rule, next_w, dw, config, out)
            results.append(next_w)
        report["same"] &= bool(np.array_equal(results[0].view(f"u{w.itemsize}"), results[1].view(f"u{w.itemsize}")))
kernels = _fused.compiled()
for rule in ("sgd", "sgd_momentum", "rmsprop", "adam"):
    stats = getattr(kernels, rule).stats
    path = stats.cache_path
    report[rule] = [sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), path and str(path)]
print(json.dumps(report))
"""


def probe(cache_dir: Path, dtypes: str = "float32", prelude: str = "") -> dict:
    """PROBE in a new interpreter, warnings as errors, with ``cache_dir`` as the kernels' cache
    (``prelude`` runs first)."""
    env = {**os.environ, ENV_VARIABLE: str(cache_dir), "DROPOUT_LAB_KERNELS": "numba"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(PACKAGE_DIR.parent), env.get("PYTHONPATH"))))
    done = subprocess.run(  # noqa: S603 (this interpreter, our code)
        [sys.executable, "-W", "error", "-c", prelude + PROBE, dtypes],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # not one warning
    return json.loads(done.stdout)


def files(folder: Path, suffixes: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (or those with one of ``suffixes``): relative path -> (size, mtime)."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and (not suffixes or path.suffix in suffixes):
            stat = path.stat()
            found[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return found


# ----------------------------------------------------------------------------- across processes
def test_the_second_process_loads_every_kernel_from_the_cache_and_adds_nothing(tmp_path):
    cache = tmp_path / "kernels"
    first = probe(cache, "float32,float64")
    after_first = files(cache)
    second = probe(cache, "float32,float64")
    assert first["same"] and second["same"]
    for rule in ("sgd", "sgd_momentum", "rmsprop", "adam"):
        assert first[rule][:2] == [0, 2], rule  # compiled for both dtypes, nothing found
        assert second[rule][:2] == [2, 0], rule  # both loaded, nothing compiled
        assert Path(second[rule][2]).is_relative_to(cache)
    assert any(name.endswith(".nbc") for name in after_first)
    assert files(cache) == after_first  # the same files, none rewritten


def test_nothing_is_written_inside_the_package(tmp_path):
    before = files(PACKAGE_DIR, (".nbi", ".nbc"))
    report = probe(tmp_path / "kernels")
    assert report["same"]
    assert files(PACKAGE_DIR, (".nbi", ".nbc")) == before
    assert all(Path(report[rule][2]).is_relative_to(tmp_path) for rule in ("sgd", "adam"))


def test_a_cache_folder_that_cannot_be_made_means_no_cache_and_the_same_numbers(tmp_path):
    """A folder under a regular file cannot be made, even by root (for whom chmod stops nothing)."""
    (tmp_path / "file").write_text("not a folder")
    before = files(PACKAGE_DIR, (".nbi", ".nbc"))
    report = probe(tmp_path / "file" / "kernels")  # no warning, exit 0: checked in probe
    assert report["same"]
    for rule in ("sgd", "sgd_momentum", "rmsprop", "adam"):
        assert report[rule] == [0, 1, None], rule  # compiled, and no cache anywhere
    assert files(PACKAGE_DIR, (".nbi", ".nbc")) == before


# ----------------------------------------------------------------------------- in this process
def test_a_cache_file_that_cannot_be_written_leaves_the_kernel_uncached_not_the_step_failed(tmp_path):
    """A file-size limit (EFBIG) or a full disk while Numba writes a kernel's cache file: the steps run
    and give the NumPy kernels' bits; nothing is cached (the files stopped at the limit are useless)."""
    prelude = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
    )
    report = probe(tmp_path / "kernels", prelude=prelude)
    assert report["same"]
    assert all(report[rule][0] == 0 for rule in ("sgd", "sgd_momentum", "rmsprop", "adam"))  # no hits


def test_enable_places_the_cache_and_leaves_numbas_settings_as_they_were(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VARIABLE, str(tmp_path))
    environ = dict(os.environ)
    settings = {key: getattr(numba.config, key, None) for key in ("CACHE_DIR", "CACHE_LOCATOR_CLASSES")}

    @numba.njit
    def twice(x: float) -> float:
        return 2 * x

    folder = _numba_cache.enable(numba, {"twice": twice}, __file__)
    assert folder is not None and folder.parent == tmp_path
    assert {key: getattr(numba.config, key, None) for key in settings} == settings
    assert dict(os.environ) == environ
    assert twice(2.0) == 4.0
    assert Path(twice.stats.cache_path).parent == folder
    assert any(name.endswith(".nbc") for name in files(folder))


def test_the_cache_folder_is_chosen_in_the_documented_order(tmp_path):
    home_cache = Path.home() / ".cache" / "dropout-lab" / "numba"
    assert cache_root({}) == home_cache
    assert cache_root({"XDG_CACHE_HOME": "relative/ignored"}) == home_cache
    assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "dropout-lab" / "numba"
    assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}, "/numba/set") == Path("/numba/set/dropout-lab")
    assert cache_root({"NUMBA_CACHE_DIR": "/env"}, "/config") == Path("/env/dropout-lab")
    both = {ENV_VARIABLE: str(tmp_path / "own"), "NUMBA_CACHE_DIR": "/env", "XDG_CACHE_HOME": "/xdg"}
    assert cache_root(both, "/config") == tmp_path / "own"
    assert cache_root({ENV_VARIABLE: "", "XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/dropout-lab/numba")


def test_each_version_of_the_kernels_has_its_own_folder():
    name = version_folder_name("0.1.0", "0.68.1", b"source")
    assert name.startswith("dropout_lab-0.1.0-numba-0.68.1-")
    assert name != version_folder_name("0.1.0", "0.68.1", b"edited source")
    assert name != version_folder_name("0.1.1", "0.68.1", b"source")
    assert name != version_folder_name("0.1.0", "0.69.0", b"source")
    assert _numba_cache._OURS.fullmatch(version_folder_name("1.0+local/x", "0.70.0rc1", b""))


def test_a_new_version_folder_removes_all_but_the_last_used_and_nothing_else(tmp_path):
    old = [version_folder_name("0.0.1", "0.61.0", bytes([i])) for i in range(5)]
    for age, name in enumerate(old):
        (tmp_path / name / "optim_x").mkdir(parents=True)
        (tmp_path / name / "optim_x" / "k.nbc").write_bytes(b"x")
        os.utime(tmp_path / name, ns=(10**18 - age * 10**9,) * 2)  # old[0] the last used
    (tmp_path / "mine").mkdir()  # a name we never make
    (tmp_path / "dropout_lab-notes.txt").write_text("kept")
    current = version_folder_name("0.1.0", "0.68.1", b"current")
    assert prepare(tmp_path, current) == tmp_path / current
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == sorted([current, *old[: KEEP - 1], "mine", "dropout_lab-notes.txt"])
    # Using a kept folder again removes nothing.
    assert prepare(tmp_path, old[1]) == tmp_path / old[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == kept
    assert prune(tmp_path, keep=KEEP) == []


def test_an_unwritable_root_gives_no_folder_and_no_error(tmp_path):
    (tmp_path / "file").write_text("")
    assert prepare(tmp_path / "file", "dropout_lab-0.1.0-numba-0.68.1-cp311-0123456789abcdef") is None
    assert prune(tmp_path / "missing", keep=1) == []


def test_the_kernels_capture_nothing():
    """Numba's cache key hashes a function's closure; a captured compiled function is a new object in
    each process, and its kernels were never found in the cache."""
    from dropout_lab.optim import _fused, _numba_kernels

    assert all(kernel.py_func.__closure__ is None for kernel in _numba_kernels.ALL.values())
    assert _fused.compiled() is None or _fused.compiled().adam is _numba_kernels.adam


def test_a_folder_that_stops_being_writable_is_no_reason_to_cache_beside_the_source(tmp_path, monkeypatch):
    """Numba's next choice after the folder it is given is the source's ``__pycache__``: never taken."""
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(_numba_cache, "prepare", lambda root, name: tmp_path / "file" / name)
    settings = {key: getattr(numba.config, key, None) for key in ("CACHE_DIR", "CACHE_LOCATOR_CLASSES")}

    @numba.njit
    def thrice(x: float) -> float:
        return 3 * x

    assert _numba_cache.enable(numba, {"thrice": thrice}, __file__) is None
    assert {key: getattr(numba.config, key, None) for key in settings} == settings
    assert thrice.stats.cache_path is None
    assert thrice(2.0) == 6.0
