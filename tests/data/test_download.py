"""download_cifar10 against a local HTTP server: verify, resume, refuse unsafe archives, leave no mess."""

from __future__ import annotations

import hashlib
import io
import socket
import sys
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dropout_lab.data import CIFAR10_FOLDER, download_cifar10, load_cifar10
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
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


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
