"""Where the compiled kernels are cached on disk, and how much of that cache is kept.

A process that runs the compiled kernels loads them from a per-user cache when an earlier process
compiled them, instead of compiling them again. The cache is never written inside the installed
package (site-packages may be read-only, and a package folder is no place for per-user state):

* the folder: ``$DROPOUT_LAB_NUMBA_CACHE_DIR`` when set and non-empty; else, where the user has given
  Numba a cache folder (``NUMBA_CACHE_DIR``), its subfolder ``dropout-lab``; else
  ``$XDG_CACHE_HOME/dropout-lab/numba`` when ``XDG_CACHE_HOME`` is an absolute path; else
  ``~/.cache/dropout-lab/numba``;
* inside it, one subfolder per version of the kernels, named after dropout-lab's version, Numba's, the
  Python's and a hash of the kernels' source (``dropout_lab-0.1.0-numba-0.68.1-cp311-<hash>``); an
  upgrade or an edited kernel starts a new subfolder instead of adding files beside the old ones;
* the bound: when a new subfolder is made, the subfolders of that form are removed except the
  :data:`KEEP` last used (the new one among them), so that two environments used in turn (two
  Pythons, two Numbas) do not evict each other, while the cache never grows without end. Nothing else
  in the folder is touched.

Where the folder cannot be made or written (a read-only home, a path under a file), the kernels run
without a disk cache: compiled in each process, silently, with the same values.

The location reaches Numba through ``numba.config.CACHE_DIR``, which Numba reads when a function's
cache is switched on (``Dispatcher.enable_caching``), not when it compiles. It is set only while the
kernels' caches are switched on, under Numba's compiler lock, and restored right after: the process's
environment (``NUMBA_CACHE_DIR``) and the cache of every other Numba function stay as the user made
them. For the same moments Numba is limited to that location (``CACHE_LOCATOR_CLASSES``, where the
Numba version has it), so that a folder which stops being writable does not send the cache to Numba's
next choice, the package's ``__pycache__``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ENV_VARIABLE = "DROPOUT_LAB_NUMBA_CACHE_DIR"
KEEP = 3  # kernel versions kept: the one in use and the two used last before it

_SEGMENT = r"[0-9A-Za-z.+_]+"
# Only folders of this form are ever removed (the name made by version_folder_name).
_OURS = re.compile(rf"dropout_lab-{_SEGMENT}-numba-{_SEGMENT}-{_SEGMENT}-[0-9a-f]{{16}}", re.ASCII)


def cache_root(environ: Mapping[str, str], numba_cache_dir: str = "") -> Path | None:
    """The folder that holds the compiled kernels' cache (see the module's docstring), which may not
    exist yet; None where no folder can be named (no home directory).

    Args:
        environ: the environment variables (``os.environ``).
        numba_cache_dir: Numba's cache folder as Numba holds it (``numba.config.CACHE_DIR``), used when
            ``NUMBA_CACHE_DIR`` is not in ``environ``.
    """
    own = environ.get(ENV_VARIABLE)
    if own:
        return Path(own).expanduser()
    numba_dir = environ.get("NUMBA_CACHE_DIR") or numba_cache_dir
    if numba_dir:
        return Path(numba_dir).expanduser() / "dropout-lab"
    xdg = environ.get("XDG_CACHE_HOME")
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "dropout-lab" / "numba"
    try:
        return Path.home() / ".cache" / "dropout-lab" / "numba"
    except RuntimeError:  # no HOME and no password entry
        return None


def version_folder_name(dropout_lab_version: str, numba_version: str, source: bytes) -> str:
    """The subfolder for one version of the kernels: dropout-lab's and Numba's versions, this Python's
    implementation and version, and a hash of the kernels' source."""

    def clean(text: str) -> str:
        return re.sub(r"[^0-9A-Za-z.+_]", "_", text) or "_"

    abiflags = getattr(sys, "abiflags", "")  # absent on Windows
    python = f"{sys.implementation.name[:2]}{sys.version_info[0]}{sys.version_info[1]}{abiflags}"
    digest = hashlib.sha256(source).hexdigest()[:16]
    return f"dropout_lab-{clean(dropout_lab_version)}-numba-{clean(numba_version)}-{clean(python)}-{digest}"


def prepare(root: Path, name: str) -> Path | None:
    """``root / name``, made where missing (then the older kernel versions beyond :data:`KEEP` are
    removed), marked as just used, and checked writable; None where any of that fails."""
    folder = root / name
    try:
        made = not folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)  # its modification time says when it was last used
        tempfile.TemporaryFile(dir=folder).close()  # the check Numba makes before it caches there
    except OSError:
        return None
    if made:
        prune(root, keep=KEEP)
    return folder


def prune(root: Path, *, keep: int) -> list[Path]:
    """Removes the kernel-version folders in ``root`` (only names of the form that
    :func:`version_folder_name` makes) except the ``keep`` last used. Returns those removed; a folder
    that cannot be removed (or that another process removes first) is skipped."""
    try:
        ours = [p for p in root.iterdir() if _OURS.fullmatch(p.name) and p.is_dir() and not p.is_symlink()]
        ours.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    except OSError:
        return []
    removed = ours[keep:]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def enable(numba: Any, dispatchers: Mapping[str, Any], source_file: str) -> Path | None:
    """Switches the disk cache of ``dispatchers`` (Numba functions of ``source_file``) on, in the
    folder for this version of the kernels. Returns that folder, or None where the kernels (or some of
    them) stay uncached: no writable folder, or Numba's JIT disabled. Nothing is raised or warned."""
    root = cache_root(os.environ, str(getattr(numba.config, "CACHE_DIR", "") or ""))
    if root is None:
        return None
    try:
        source = Path(source_file).read_bytes()
    except OSError:
        return None
    from .. import __version__

    folder = prepare(root, version_folder_name(__version__, numba.__version__, source))
    if folder is None:
        return None
    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock, _numba_config(numba.config, folder):
        for dispatcher in dispatchers.values():
            switch_on = getattr(dispatcher, "enable_caching", None)  # absent under NUMBA_DISABLE_JIT
            if switch_on is None:
                return None
            try:
                switch_on()
            except RuntimeError:  # "no locator available": the folder stopped being writable
                return None
            _skip_failed_saves(dispatcher)
    return folder


def _skip_failed_saves(dispatcher: Any) -> None:
    """A cache file that cannot be written (a full disk, a file-size limit) leaves that kernel
    uncached for this process instead of failing the optimizer step that compiled it. Numba writes the
    file inside the first call, through its cache's ``save_overload``, which is wrapped here."""
    cache = getattr(dispatcher, "_cache", None)
    save = getattr(cache, "save_overload", None)
    if cache is None or save is None:
        return

    def save_or_skip(sig: Any, data: Any) -> None:
        try:
            save(sig, data)
        except OSError:
            pass  # the kernel is compiled and runs; only its copy on disk is missing

    cache.save_overload = save_or_skip


@contextlib.contextmanager
def _numba_config(config: Any, folder: Path) -> Iterator[None]:
    """Numba's cache location set to ``folder`` (and only there), then restored as it was."""
    values = {"CACHE_DIR": str(folder)}
    if hasattr(config, "CACHE_LOCATOR_CLASSES"):
        values["CACHE_LOCATOR_CLASSES"] = "UserProvidedCacheLocator"
    saved = {key: getattr(config, key) for key in values if hasattr(config, key)}
    for key, value in values.items():
        setattr(config, key, value)
    try:
        yield
    finally:
        for key in values:
            if key in saved:
                setattr(config, key, saved[key])
            else:
                delattr(config, key)
