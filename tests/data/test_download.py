"""download_cifar10 against a local HTTP server: verify, resume, refuse unsafe archives, leave no mess."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dropout_lab.data import CIFAR10_FOLDER, _archive, download, download_cifar10, load_cifar10
from dropout_lab.data.download import CIFAR10_ARCHIVE
from dropout_lab.errors import DataError, InvalidArgumentError, InvalidTypeError

from ._batches import py2_batch, random_batch, write_cifar_folder

BATCH_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


# ------------------------------------------------------------------------------------- the server


@dataclass
class ServerState:
    content: bytes = b""
    honor_range: bool = True
    cut_first_response_at: int | None = None  # send this many bytes of the next full body, then hang up
    requests: list[dict[str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: closing it ends the body

    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]  # state is set on the server below
        state.requests.append(dict(self.headers))
        if self.path != "/" + CIFAR10_ARCHIVE:
            self._reply(404, b"not here")
            return
        body = state.content
        wanted = self.headers.get("Range")
        if wanted and state.honor_range:
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
            if start >= len(body):
                self._reply(416, b"", {"Content-Range": f"bytes */{len(body)}"})
                return
            headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
            self._reply(206, body[start:], headers)
            return
        if state.cut_first_response_at is not None:
            cut, state.cut_first_response_at = state.cut_first_response_at, None
            self._reply(200, body[:cut], {}, length=len(body))
            return
        self._reply(200, body)

    def _reply(self, status: int, body: bytes, headers: dict | None = None, length: int | None = None) -> None:
        self.server.state.statuses.append(status)  # type: ignore[attr-defined]  # state is set on the server below
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    # Never route the test's requests to 127.0.0.1 through a proxy from the environment.
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = ServerState()  # type: ignore[attr-defined]  # state is set on the server below
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.state, f"http://127.0.0.1:{httpd.server_address[1]}/{CIFAR10_ARCHIVE}"  # type: ignore[attr-defined]  # state is set on the server below
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()


# ------------------------------------------------------------------------------------ the archives


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, b""


def make_archive(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A .tar.gz of ``members``, the same bytes every time (the gzip header's time is 0, not now)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return gzip.compress(buffer.getvalue(), mtime=0)


def good_members(seed: int = 0, rows: int = 5) -> tuple[list, dict[str, tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    folder = tarfile.TarInfo(CIFAR10_FOLDER)
    folder.type = tarfile.DIRTYPE
    members, written = [(folder, b"")], {}
    for name in BATCH_NAMES:
        data, labels = random_batch(rng, rows)
        written[name] = (data, labels)
        members.append(_file(f"{CIFAR10_FOLDER}/{name}", py2_batch(data, labels, batch_label=name.encode())))
    members.append(_file(f"{CIFAR10_FOLDER}/readme.html", b"<p>test</p>"))
    return members, written


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - the archive's published checksum is MD5


def assert_loads(root: Path, written) -> None:
    Xtr, ytr, Xte, yte = load_cifar10(root)
    expected = np.concatenate([written[name][0] for name in BATCH_NAMES[:5]])
    assert np.array_equal(Xtr, expected.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert np.array_equal(ytr, np.concatenate([written[name][1] for name in BATCH_NAMES[:5]]))
    assert np.array_equal(yte, written["test_batch"][1])


def listing(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


# ------------------------------------------------------------------------------------------ tests


def test_good_archive_is_fetched_verified_and_unpacked(server, tmp_path):
    state, url = server
    members, written = good_members()
    state.content = make_archive(members)
    root = tmp_path / "data"  # created on the way
    folder = download_cifar10(root, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert folder == root / CIFAR10_FOLDER
    assert_loads(root, written)
    assert (folder / "readme.html").read_bytes() == b"<p>test</p>"
    # The verified archive is kept; no .part and no temporary folder remain.
    assert listing(root) == sorted([CIFAR10_ARCHIVE, CIFAR10_FOLDER])
    assert (root / CIFAR10_ARCHIVE).read_bytes() == state.content
    assert len(state.requests) == 1 and "Range" not in state.requests[0]


def test_env_var_names_the_root(server, tmp_path, monkeypatch):
    state, url = server
    members, written = good_members(1)
    state.content = make_archive(members)
    monkeypatch.setenv("DROPOUT_LAB_DATA", str(tmp_path))
    assert download_cifar10(url=url, md5=md5(state.content), progress=False, timeout=10) == tmp_path / CIFAR10_FOLDER
    assert_loads(tmp_path, written)


def test_wrong_checksum_removes_the_file_and_extracts_nothing(server, tmp_path):
    state, url = server
    state.content = make_archive(good_members()[0])
    with pytest.raises(DataError, match="MD5") as info:
        download_cifar10(tmp_path, url=url, md5="0" * 32, progress=False, timeout=10)
    assert url in str(info.value)
    assert listing(tmp_path) == []


UNSAFE = {
    "dot-dot": (_file(f"{CIFAR10_FOLDER}/../../escaped", b"x"), "'..'"),
    # S108: a member name the download must refuse; the test checks nothing is written there.
    "absolute": (_file("/tmp/dropout-lab-absolute-member", b"x"), "absolute"),  # noqa: S108 - refused name
    "symlink": (_special(f"{CIFAR10_FOLDER}/link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    "symlink inside": (_special(f"{CIFAR10_FOLDER}/link", tarfile.SYMTYPE, "data_batch_1"), "symbolic link"),
    "hard link": (_special(f"{CIFAR10_FOLDER}/hard", tarfile.LNKTYPE, f"{CIFAR10_FOLDER}/data_batch_1"), "hard link"),
    "character device": (_special(f"{CIFAR10_FOLDER}/tty", tarfile.CHRTYPE), "device"),
    "block device": (_special(f"{CIFAR10_FOLDER}/sda", tarfile.BLKTYPE), "device"),
    "fifo": (_special(f"{CIFAR10_FOLDER}/pipe", tarfile.FIFOTYPE), "FIFO"),
    "outside the folder": (_file("elsewhere/file", b"x"), f"under {CIFAR10_FOLDER}/"),
}


@pytest.mark.parametrize("name", sorted(UNSAFE))
@pytest.mark.parametrize("position", ["first", "last"])
def test_unsafe_members_are_refused_and_nothing_is_left(server, tmp_path, name, position):
    state, url = server
    (member, words) = UNSAFE[name]
    members = good_members()[0]
    members = [member, *members] if position == "first" else [*members, member]
    state.content = make_archive(members)
    root = tmp_path / "root"
    with pytest.raises(DataError, match="refused member") as info:
        download_cifar10(root, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert repr(member[0].name) in str(info.value)
    assert words in str(info.value)
    # Checked before anything was written: no folder, no temporary folder, no escaped file.
    assert listing(root) == []
    assert not (tmp_path / "escaped").exists()
    assert not Path("/tmp/dropout-lab-absolute-member").exists()  # noqa: S108 - must not have been written


def test_archive_missing_a_batch_leaves_no_folder(server, tmp_path):
    state, url = server
    members = [m for m in good_members()[0] if not m[0].name.endswith("test_batch")]
    state.content = make_archive(members)
    with pytest.raises(DataError, match="lacks test_batch"):
        download_cifar10(tmp_path, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert listing(tmp_path) == [CIFAR10_ARCHIVE]


def test_a_file_that_is_not_an_archive(server, tmp_path):
    state, url = server
    state.content = b"<html>a captive portal page</html>"
    with pytest.raises(DataError, match="cannot unpack"):
        download_cifar10(tmp_path, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert CIFAR10_FOLDER not in listing(tmp_path)
    assert not [name for name in listing(tmp_path) if name.endswith(".tmp")]


def test_interrupted_download_resumes_with_range(server, tmp_path):
    state, url = server
    members, written = good_members(2, rows=40)
    state.content = make_archive(members)
    half = len(state.content) // 2
    state.cut_first_response_at = half
    with pytest.raises(DataError, match="resume") as info:
        download_cifar10(tmp_path, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert url in str(info.value)
    part = tmp_path / (CIFAR10_ARCHIVE + ".part")
    assert part.read_bytes() == state.content[:half]
    assert CIFAR10_FOLDER not in listing(tmp_path)

    folder = download_cifar10(tmp_path, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert state.requests[-1]["Range"] == f"bytes={half}-"
    assert state.statuses == [200, 206]
    assert folder == tmp_path / CIFAR10_FOLDER
    assert_loads(tmp_path, written)
    assert listing(tmp_path) == sorted([CIFAR10_ARCHIVE, CIFAR10_FOLDER])


def test_a_server_that_ignores_range_gets_a_full_restart(server, tmp_path):
    state, url = server
    members, written = good_members(3)
    state.content = make_archive(members)
    state.honor_range = False
    (tmp_path / (CIFAR10_ARCHIVE + ".part")).write_bytes(b"stale bytes from another file")
    download_cifar10(tmp_path, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert state.requests[0]["Range"] == "bytes=29-"
    assert state.statuses == [200]
    assert (tmp_path / CIFAR10_ARCHIVE).read_bytes() == state.content
    assert_loads(tmp_path, written)


def test_a_complete_part_file_is_used_after_416(server, tmp_path):
    state, url = server
    members, written = good_members(4)
    state.content = make_archive(members)
    (tmp_path / (CIFAR10_ARCHIVE + ".part")).write_bytes(state.content)
    download_cifar10(tmp_path, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert state.statuses == [416]
    assert_loads(tmp_path, written)


def test_an_existing_folder_is_not_downloaded_again(server, tmp_path):
    state, url = server
    written = write_cifar_folder(tmp_path / CIFAR10_FOLDER, np.random.default_rng(5), rows=3)
    before = {name: (tmp_path / CIFAR10_FOLDER / name).stat().st_mtime_ns for name in written}
    assert download_cifar10(tmp_path, url=url, progress=False) == tmp_path / CIFAR10_FOLDER
    assert state.requests == []
    assert {name: (tmp_path / CIFAR10_FOLDER / name).stat().st_mtime_ns for name in written} == before
    # A root that holds the batch files itself counts too.
    flat = tmp_path / "flat"
    write_cifar_folder(flat, np.random.default_rng(6), rows=3)
    assert download_cifar10(flat, url=url, progress=False) == flat
    assert state.requests == []


def test_an_incomplete_existing_folder_is_an_error_not_overwritten(server, tmp_path):
    state, url = server
    write_cifar_folder(tmp_path / CIFAR10_FOLDER, np.random.default_rng(7), rows=3)
    (tmp_path / CIFAR10_FOLDER / "test_batch").unlink()
    with pytest.raises(DataError, match="exists but lacks"):
        download_cifar10(tmp_path, url=url, progress=False)
    assert state.requests == []
    assert (tmp_path / CIFAR10_FOLDER / "data_batch_1").is_file()


def test_a_verified_archive_already_there_is_not_downloaded(server, tmp_path):
    state, url = server
    members, written = good_members(8)
    content = make_archive(members)
    (tmp_path / CIFAR10_ARCHIVE).write_bytes(content)
    download_cifar10(tmp_path, url=url, md5=md5(content), progress=False)
    assert state.requests == []
    assert_loads(tmp_path, written)


def test_a_stale_archive_is_replaced(server, tmp_path):
    state, url = server
    members, written = good_members(9)
    state.content = make_archive(members)
    (tmp_path / CIFAR10_ARCHIVE).write_bytes(b"an old, different file")
    download_cifar10(tmp_path, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert len(state.requests) == 1
    assert_loads(tmp_path, written)


def test_http_errors_name_the_url_and_the_reason(server, tmp_path):
    _, url = server
    missing = url.replace(CIFAR10_ARCHIVE, "nothing.tar.gz")
    with pytest.raises(DataError, match="404") as info:
        download_cifar10(tmp_path, url=missing, progress=False, timeout=10)
    assert missing in str(info.value)
    assert listing(tmp_path) == []


def test_connection_refused_names_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{CIFAR10_ARCHIVE}"  # nobody listens there now
    with pytest.raises(DataError, match="could not download") as info:
        download_cifar10(tmp_path, url=url, progress=False, timeout=5)
    assert url in str(info.value)


def test_bad_arguments_fail_before_any_request(server, tmp_path):
    state, url = server
    with pytest.raises(InvalidArgumentError, match="url"):
        download_cifar10(tmp_path, url="ftp://example.org/x.tar.gz")
    with pytest.raises(InvalidArgumentError, match="url"):
        download_cifar10(tmp_path, url="file:///etc/passwd")
    with pytest.raises(InvalidArgumentError, match="md5"):
        download_cifar10(tmp_path, url=url, md5="not-a-checksum")
    with pytest.raises(InvalidTypeError, match="progress"):
        download_cifar10(tmp_path, url=url, progress="yes")
    with pytest.raises(InvalidArgumentError, match="timeout"):
        download_cifar10(tmp_path, url=url, timeout=0)
    assert state.requests == []
    assert listing(tmp_path) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(server, tmp_path, monkeypatch, capsys):
    state, url = server
    state.content = make_archive(good_members(10)[0])
    checksum = md5(state.content)
    # Not a terminal (pytest captures stderr): nothing is drawn.
    download_cifar10(tmp_path / "a", url=url, md5=checksum, timeout=10)
    assert capsys.readouterr() == ("", "")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    download_cifar10(tmp_path / "b", url=url, md5=checksum, progress=False, timeout=10)
    assert terminal.getvalue() == ""
    download_cifar10(tmp_path / "c", url=url, md5=checksum, timeout=10)
    drawn = terminal.getvalue()
    # On stderr, named after the archive, and finished at the whole size.
    assert CIFAR10_ARCHIVE in drawn and "100%" in drawn
    assert capsys.readouterr() == ("", "")


class _RecordingBar:
    """Stands in for tqdm: records what the download tells its bar."""

    made: list[_RecordingBar] = []

    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs
        self.position = kwargs["initial"]
        self.closed = False
        _RecordingBar.made.append(self)

    def update(self, n: int) -> None:
        self.position += n

    def close(self) -> None:
        self.closed = True


def test_the_bar_counts_bytes_from_where_a_resumed_download_starts(server, tmp_path, monkeypatch):
    from dropout_lab.data import download

    monkeypatch.setattr(download, "tqdm", _RecordingBar)
    monkeypatch.setattr(_RecordingBar, "made", [])
    state, url = server
    state.content = make_archive(good_members(3, rows=40)[0])
    half = len(state.content) // 2
    state.cut_first_response_at = half
    with pytest.raises(DataError, match="resume"):
        download_cifar10(tmp_path, url=url, md5=md5(state.content), timeout=10)
    download_cifar10(tmp_path, url=url, md5=md5(state.content), timeout=10)
    first, second = _RecordingBar.made
    for bar in (first, second):
        assert bar.kwargs["unit"] == "B" and bar.kwargs["unit_scale"] is True
        assert bar.kwargs["total"] == len(state.content)
        assert bar.kwargs["desc"] == CIFAR10_ARCHIVE
        assert bar.kwargs["file"] is sys.stderr
        assert bar.kwargs["disable"] is None  # tqdm's: drawn only when stderr is a terminal
        assert bar.closed
    assert (first.kwargs["initial"], first.position) == (0, half)
    assert (second.kwargs["initial"], second.position) == (half, len(state.content))


def test_progress_false_disables_the_bar(server, tmp_path, monkeypatch):
    from dropout_lab.data import download

    monkeypatch.setattr(download, "tqdm", _RecordingBar)
    monkeypatch.setattr(_RecordingBar, "made", [])
    state, url = server
    state.content = make_archive(good_members(4)[0])
    download_cifar10(tmp_path, url=url, md5=md5(state.content), progress=False, timeout=10)
    (bar,) = _RecordingBar.made
    assert bar.kwargs["disable"] is True


# --------------------------------------------------------------------- the .part is never followed

PART = CIFAR10_ARCHIVE + ".part"


@pytest.mark.parametrize("before", [b"", b"precious"], ids=["fresh", "resumed"])
def test_a_symlink_at_the_part_path_is_refused_and_its_target_untouched(server, tmp_path, before):
    """Issue 11, finding 6: the server's bytes overwrote (fresh) or were appended to (resumed) the
    link's target, a file outside the data root."""
    state, url = server
    state.content = make_archive(good_members()[0])
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_bytes(before)
    root = tmp_path / "root"
    root.mkdir()
    (root / PART).symlink_to(victim)
    with pytest.raises(DataError, match="is a symbolic link, not a regular file") as info:
        download_cifar10(root, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert str(root / PART) in str(info.value)
    assert victim.read_bytes() == before
    assert state.requests == []  # refused before anything was asked of the server
    assert listing(root) == [PART] and (root / PART).is_symlink()


@pytest.mark.parametrize("before", [b"", b"precious"], ids=["fresh", "resumed"])
def test_a_symlink_placed_after_the_check_is_not_followed_either(server, tmp_path, monkeypatch, before):
    """The open itself refuses a link (O_NOFOLLOW), for one placed between the check and the open."""
    state, url = server
    state.content = make_archive(good_members()[0])
    victim = tmp_path / "victim.txt"
    victim.write_bytes(before)
    root = tmp_path / "root"
    root.mkdir()
    (root / PART).symlink_to(victim)
    # The check saw a plain .part of the target's size: the link appears just after it.
    monkeypatch.setattr(download, "_part_size", lambda part: len(before), raising=False)
    with pytest.raises(DataError, match="is a symbolic link, not a regular file") as info:
        download_cifar10(root, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert str(root / PART) in str(info.value)
    assert victim.read_bytes() == before
    assert state.statuses == [206 if before else 200]


FIFO_CHILD = textwrap.dedent("""
    import sys
    from dropout_lab.data import download_cifar10
    try:
        download_cifar10(sys.argv[1], url=sys.argv[2], md5=sys.argv[3], progress=False, timeout=5)
    except Exception as exc:
        print(type(exc).__name__, exc)
""")


def test_a_fifo_at_the_part_path_is_refused_without_blocking(server, tmp_path):
    """A FIFO at the .part path blocked the download forever (in a child, so a hang cannot stop the run)."""
    state, url = server
    state.content = make_archive(good_members()[0])
    os.mkfifo(tmp_path / PART)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "no_proxy": "*", "NO_PROXY": "*"}
    child = subprocess.run(  # noqa: S603 - this interpreter, a fixed script, tmp_path and a local URL
        [sys.executable, "-c", FIFO_CHILD, str(tmp_path), url, md5(state.content)],
        capture_output=True, text=True, timeout=60, env=env, check=True,
    )
    assert child.stdout.startswith("DataError ") and "not a regular file" in child.stdout, child
    assert str(tmp_path / PART) in child.stdout
    assert state.requests == []


# ------------------------------------------------------------- archives bigger than CIFAR-10 can be


def header(info: tarfile.TarInfo, tar_format: int = tarfile.GNU_FORMAT) -> bytes:
    return info.tobuf(tar_format, "utf-8", "surrogateescape")


def with_checksum(block: bytearray) -> bytes:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def gnu_sparse_header(name: str, real_size: int, *, extended: bool = False) -> bytes:
    """An old-GNU sparse member ('S'): no data stored, one empty chunk at ``real_size``; unpacked, it
    is ``real_size`` bytes of zeros. ``extended`` promises a further block of chunks."""
    info = tarfile.TarInfo(name)
    block = bytearray(header(info))
    block[156:157] = tarfile.GNUTYPE_SPARSE
    block[386:398] = b"%011o\0" % real_size  # the first chunk's offset ...
    block[398:410] = b"%011o\0" % 0  # ... and size
    block[482] = int(extended)
    block[483:495] = b"%011o\0" % real_size  # the size once unpacked
    return with_checksum(block)


def pax_sparse_header(name: str, real_size: int) -> bytes:
    """The same as a pax member in GNU's sparse format 0.1."""
    info = tarfile.TarInfo(name)
    info.pax_headers = {"GNU.sparse.size": str(real_size), "GNU.sparse.map": f"{real_size},0"}
    return header(info, tarfile.PAX_FORMAT)


def raw_archive(*blocks: bytes, end: bool = True) -> bytes:
    """A .tar.gz of hand-made tar blocks (each a multiple of 512 bytes), with the end-of-archive blocks
    unless ``end`` is False."""
    return gzip.compress(b"".join(blocks) + bytes(1024 if end else 0), mtime=0)


def folder_header() -> bytes:
    info = tarfile.TarInfo(CIFAR10_FOLDER)
    info.type = tarfile.DIRTYPE
    return header(info)


def assert_refused_before_writing(server, tmp_path, content: bytes, *words: str, removed: bool = True) -> None:
    state, url = server
    state.content = content
    root = tmp_path / "root"
    with pytest.raises(DataError) as info:
        download_cifar10(root, url=url, md5=md5(content), progress=False, timeout=10)
    for word in words:
        assert word in str(info.value)
    # Nothing unpacked, no temporary folder; an archive refused at its headers is not kept.
    assert listing(root) == ([] if removed else [CIFAR10_ARCHIVE])


SPARSE = {
    "old GNU": gnu_sparse_header,
    "pax 0.1": pax_sparse_header,
}


@pytest.mark.parametrize("kind", sorted(SPARSE))
def test_a_sparse_member_is_refused_before_anything_is_written(server, tmp_path, kind):
    """Issue 11, finding 6: a few hundred bytes of archive unpacked a 2.1 GB file."""
    name = f"{CIFAR10_FOLDER}/data_batch_1"
    content = raw_archive(folder_header(), SPARSE[kind](name, 2_100_000_000))
    assert len(content) < 1000
    assert_refused_before_writing(server, tmp_path, content, f"refused member {name!r}", "sparse", "2100000000")


def test_a_member_declared_bigger_than_a_cifar_file_is_refused_at_its_header(server, tmp_path):
    # Only the header: its data would be 64 MiB and one byte, and is never read.
    info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/data_batch_1")
    info.size = _archive.MAX_MEMBER_BYTES + 1
    content = raw_archive(folder_header(), header(info))
    assert_refused_before_writing(server, tmp_path, content, f"refused member {info.name!r}",
                                  f"{info.size} bytes", f"more than the {_archive.MAX_MEMBER_BYTES}")


def test_members_that_together_exceed_the_limit_are_refused_at_the_header_that_crosses_it(
    server, tmp_path, monkeypatch
):
    members, _ = good_members()
    sizes = [info.size for info, _ in members if info.isfile()]
    # A limit the first five files fit in, and the sixth crosses.
    monkeypatch.setattr(_archive, "MAX_TOTAL_BYTES", sum(sizes[:5]) + 1)
    content = make_archive(members)
    assert_refused_before_writing(server, tmp_path, content, f"refused member '{CIFAR10_FOLDER}/test_batch'",
                                  f"unpack to {sum(sizes[:6])} bytes")


def test_more_members_than_cifar_has_room_for_are_refused(server, tmp_path):
    members, _ = good_members()
    extra = [_file(f"{CIFAR10_FOLDER}/extra_{i}", b"") for i in range(_archive.MAX_MEMBERS)]
    assert_refused_before_writing(server, tmp_path, make_archive([*members, *extra]),
                                  f"more than {_archive.MAX_MEMBERS} members")


def test_a_pax_header_bigger_than_the_header_limit_is_refused_before_it_is_read_whole(server, tmp_path):
    # tarfile reads a pax record whole into memory: 512 MiB of zeros (half a MB of gzip) took 566 MB.
    # One byte past the limit is enough to show the refusal; zeros compress to almost nothing.
    size = _archive.MAX_HEADER_BYTES + 1
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = size
    content = raw_archive(header(info), bytes(size + (-size % 512)), folder_header())
    assert_refused_before_writing(server, tmp_path, content, f"headers take more than {_archive.MAX_HEADER_BYTES}")


def _pax_sparse_10_without_newline() -> bytes:
    info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/data_batch_1")
    info.size = 512
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": "10"}
    return header(info, tarfile.PAX_FORMAT) + b"9" * 512


MALFORMED = {
    # It promises a further block of sparse chunks, and the archive ends: tarfile raises IndexError.
    "old GNU sparse, cut": lambda: raw_archive(
        folder_header(), gnu_sparse_header(f"{CIFAR10_FOLDER}/data_batch_1", 10, extended=True), end=False
    ),
    # A sparse map (format 1.0) with no line end: tarfile raises ValueError.
    "pax 1.0 sparse map": lambda: raw_archive(folder_header(), _pax_sparse_10_without_newline(), end=False),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_sparse_header_is_a_data_error(server, tmp_path, kind):
    content = MALFORMED[kind]()
    state, url = server
    state.content = content
    with pytest.raises(DataError, match="cannot unpack"):
        download_cifar10(tmp_path, url=url, md5=md5(content), progress=False, timeout=10)
    assert CIFAR10_FOLDER not in listing(tmp_path) and not [n for n in listing(tmp_path) if n.endswith(".tmp")]


class _Overflowing(io.RawIOBase):
    """A member's reader that yields ``extra`` bytes more than the member's header declares."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override] - a memoryview, as io passes it
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_the_bytes_written_are_counted_too(server, tmp_path, monkeypatch):
    """Should a member's reader yield more than its header declares, writing stops at the limit."""
    state, url = server
    members, _ = good_members()
    state.content = make_archive(members)
    extra = 3 << 20
    monkeypatch.setattr(tarfile.TarFile, "extractfile",
                        lambda self, member: io.BufferedReader(_Overflowing(member.size + extra)))
    with pytest.raises(DataError, match=f"refused member '{CIFAR10_FOLDER}/data_batch_1': it unpacks to more than"):
        download_cifar10(tmp_path, url=url, md5=md5(state.content), progress=False, timeout=10)
    assert listing(tmp_path) == [CIFAR10_ARCHIVE]  # no folder, no temporary one


def test_the_limits_leave_room_for_cifar10():
    """CIFAR-10's files: six batches of 31,035,704 bytes or fewer, two small ones, 9 members in all."""
    batch, whole = 31_035_704, 5 * 31_035_704 + 31_035_526 + 158 + 88
    assert _archive.MAX_MEMBER_BYTES >= 2 * batch
    assert _archive.MAX_TOTAL_BYTES >= 1.4 * whole
    assert _archive.MAX_MEMBERS >= 9


# ------------------------------------------------------------------------- --from: the archive at hand


def test_from_an_archive_at_hand_fetches_nothing(server, tmp_path):
    state, url = server
    members, written = good_members(2)
    archive = tmp_path / "have" / CIFAR10_ARCHIVE
    archive.parent.mkdir()
    archive.write_bytes(make_archive(members))
    root = tmp_path / "data"
    folder = download_cifar10(root, source=archive, url=url, md5=md5(archive.read_bytes()), progress=False)
    assert folder == root / CIFAR10_FOLDER
    assert_loads(root, written)
    assert state.requests == []
    # Copied in (as a download is kept), the file at hand left as it was.
    assert (root / CIFAR10_ARCHIVE).read_bytes() == archive.read_bytes() == make_archive(members)
    assert listing(root) == sorted([CIFAR10_ARCHIVE, CIFAR10_FOLDER])


def test_from_a_file_that_is_not_the_archive_installs_nothing(server, tmp_path):
    state, url = server
    archive = tmp_path / CIFAR10_ARCHIVE
    archive.write_bytes(make_archive(good_members()[0]))
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        download_cifar10(root, source=archive, url=url, md5="0" * 32, progress=False)
    message = str(info.value)
    assert str(archive) in message and "MD5" in message and "nothing was installed" in message
    assert listing(root) == [] and state.requests == []
    assert archive.exists()  # the user's file is never removed


def test_from_the_default_checksum_refuses_another_archive(tmp_path):
    archive = tmp_path / "other.tar.gz"
    archive.write_bytes(make_archive(good_members()[0]))
    with pytest.raises(DataError, match="c58f30108f718f92721af3b95e74349a"):
        download_cifar10(tmp_path / "data", source=archive, progress=False)
    assert listing(tmp_path / "data") == []


@pytest.mark.parametrize("kind", ["folder", "fifo", "missing"])
def test_from_something_that_is_not_a_file(tmp_path, kind):
    source = tmp_path / "have"
    if kind == "folder":
        source.mkdir()
    elif kind == "fifo":
        os.mkfifo(source)
    with pytest.raises(DataError, match="cannot read the CIFAR-10 archive") as info:
        download_cifar10(tmp_path / "data", source=source, progress=False)
    assert str(source) in str(info.value)
    assert ("No such file" if kind == "missing" else "not a regular file") in str(info.value)


def test_from_a_file_bigger_than_the_archive_can_be(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_TOTAL_BYTES", 10)
    archive = tmp_path / CIFAR10_ARCHIVE
    archive.write_bytes(bytes(100))
    with pytest.raises(DataError, match="more than 10 bytes"):
        download_cifar10(tmp_path / "data", source=archive, progress=False)
    assert listing(tmp_path / "data") == []


def test_a_failed_download_names_the_from_option(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    with pytest.raises(DataError) as info:
        download_cifar10(tmp_path, url="http://127.0.0.1:9/c.tar.gz", progress=False, timeout=5)
    assert "could not download http://127.0.0.1:9/c.tar.gz" in str(info.value)
    assert "dropout-lab data download cifar10 --from FILE" in str(info.value)


def test_a_body_longer_than_the_archive_can_be_is_cut_off(server, tmp_path, monkeypatch):
    state, url = server
    state.content = bytes(5000)
    monkeypatch.setattr(download, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(DataError, match="sends more than the 1000 bytes"):
        download_cifar10(tmp_path, url=url, progress=False, timeout=10)
