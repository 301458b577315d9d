"""download_mnist against local HTTP mirrors and from a folder at hand: verified, whole or not at all."""

from __future__ import annotations

import gzip
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dropout_lab import cli
from dropout_lab.data import MNIST_FILES, MNIST_FOLDER, MNIST_MIRRORS, download_mnist, load_mnist, mnist_download
from dropout_lab.errors import DataError, InvalidArgumentError, InvalidTypeError

from ._idx import gz, idx_labels, mnist_contents, write_mnist_folder


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        files: dict[str, bytes] = self.server.files  # type: ignore[attr-defined]  # set on the server below
        self.server.requests.append(self.path)  # type: ignore[attr-defined]  # set on the server below
        body = files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    """A local server: ``files`` maps a path (``/a/train-images-idx3-ubyte.gz``) to its bytes; the
    fixture gives the server and its base URL."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files = {}  # type: ignore[attr-defined]  # read by the handler
    httpd.requests = []  # type: ignore[attr-defined]  # read by the handler
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def contents(monkeypatch) -> dict[str, bytes]:
    """Small MNIST-shaped files, and their MD5s in place of the real ones."""
    files = mnist_contents(np.random.default_rng(5), train=50, test=20)
    md5s = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}  # noqa: S324 - MNIST's checksums are MD5
    monkeypatch.setattr(mnist_download, "MNIST_MD5", md5s)
    return files


def serve(httpd, prefix: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        httpd.files[f"/{prefix}/{name}"] = data


def listing(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def assert_installed(root: Path, contents: dict[str, bytes]) -> None:
    Xtr, ytr, Xte, yte = load_mnist(root)
    assert Xtr.shape == (50, 784) and list(ytr[:5]) == [5, 0, 4, 1, 9] and Xte.shape == (20, 784)
    for name, data in contents.items():
        installed = root / MNIST_FOLDER / name
        raw = installed.read_bytes() if installed.exists() else gzip.compress(installed.with_suffix("").read_bytes())
        assert gzip.decompress(raw) == data
    assert listing(root) == [MNIST_FOLDER]  # no temporary folder or .part is left


def fetch(root, base: str, *prefixes: str, **kwargs) -> Path:
    mirrors = [f"{base}/{p}/" for p in prefixes]
    return download_mnist(root, mirrors=mirrors, progress=False, timeout=10, **kwargs)


# ------------------------------------------------------------------------------------------ mirrors


def test_the_mirrors_are_the_known_ones_in_order():
    assert MNIST_MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert all(url.endswith("/") for url in MNIST_MIRRORS)


def test_a_good_mirror_after_a_missing_one(server, contents, tmp_path):
    httpd, base = server
    serve(httpd, "good", {name: gz(data) for name, data in contents.items()})
    root = tmp_path / "data"
    assert fetch(root, base, "missing", "good") == root / MNIST_FOLDER
    assert_installed(root, contents)
    assert httpd.requests == [f"/{p}/{name}" for name in MNIST_FILES for p in ("missing", "good")]


def test_a_mirror_that_recompressed_the_files_still_verifies(server, contents, tmp_path):
    httpd, base = server
    serve(httpd, "m", {name: gzip.compress(data, compresslevel=1, mtime=123) for name, data in contents.items()})
    fetch(tmp_path, base, "m")
    assert_installed(tmp_path, contents)


def test_bad_content_is_refused_and_the_next_mirror_used(server, contents, tmp_path):
    httpd, base = server
    wrong = dict(contents, **{MNIST_FILES[1]: idx_labels(np.zeros(50, dtype=np.uint8))})
    serve(httpd, "bad", {name: gz(data) for name, data in wrong.items()})
    serve(httpd, "good", {name: gz(data) for name, data in contents.items()})
    fetch(tmp_path, base, "bad", "good")
    assert_installed(tmp_path, contents)


def test_bad_content_everywhere_installs_nothing(server, contents, tmp_path):
    httpd, base = server
    wrong = dict(contents, **{MNIST_FILES[3]: idx_labels(np.zeros(20, dtype=np.uint8))})
    serve(httpd, "a", {name: gz(data) for name, data in wrong.items()})
    serve(httpd, "b", {name: gz(data) for name, data in wrong.items()})
    with pytest.raises(DataError) as info:
        fetch(tmp_path, base, "a", "b")
    message = str(info.value)
    assert f"could not download MNIST's {MNIST_FILES[3]} from any of the 2 mirrors" in message
    assert f"{base}/a/{MNIST_FILES[3]}: the MD5 of its uncompressed content is" in message
    assert f"{base}/b/{MNIST_FILES[3]}" in message
    assert "nothing was installed" in message and "--from DIR" in message
    assert listing(tmp_path) == []


def test_all_mirrors_failing_names_each_and_the_from_option(server, contents, tmp_path):
    httpd, base = server
    with pytest.raises(DataError) as info:
        download_mnist(tmp_path, mirrors=[f"{base}/none/", "http://127.0.0.1:9/"], progress=False, timeout=10)
    message = str(info.value)
    assert f"could not download {base}/none/{MNIST_FILES[0]}: HTTP 404" in message
    assert f"could not download http://127.0.0.1:9/{MNIST_FILES[0]}" in message
    assert "dropout-lab data download mnist --from DIR" in message
    assert listing(tmp_path) == []


def test_a_bomb_from_a_mirror_is_refused(server, contents, tmp_path):
    httpd, base = server
    bomb = gz(contents[MNIST_FILES[1]] + bytes(8 << 20))
    serve(httpd, "m", {name: gz(data) for name, data in contents.items()})
    httpd.files[f"/m/{MNIST_FILES[1]}"] = bomb
    with pytest.raises(DataError, match="refused: it holds more than the 50 bytes its header declares"):
        fetch(tmp_path, base, "m")
    assert listing(tmp_path) == []


def test_a_body_longer_than_any_mnist_file_is_cut_off(server, contents, tmp_path, monkeypatch):
    httpd, base = server
    monkeypatch.setattr(mnist_download, "MAX_FILE_BYTES", 100)
    httpd.files[f"/m/{MNIST_FILES[0]}"] = bytes(1000)
    with pytest.raises(DataError, match="sends more than the 100 bytes"):
        fetch(tmp_path, base, "m")
    assert listing(tmp_path) == []


def test_an_existing_folder_is_not_fetched_again(server, contents, tmp_path):
    httpd, base = server
    write_mnist_folder(tmp_path / MNIST_FOLDER, contents)
    assert fetch(tmp_path, base, "m") == tmp_path / MNIST_FOLDER
    assert httpd.requests == []


def test_an_incomplete_existing_folder_is_an_error_not_overwritten(server, contents, tmp_path):
    httpd, base = server
    (tmp_path / MNIST_FOLDER).mkdir()
    (tmp_path / MNIST_FOLDER / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="exists but lacks"):
        fetch(tmp_path, base, "m")
    assert listing(tmp_path / MNIST_FOLDER) == ["notes.txt"] and httpd.requests == []


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"mirrors": "http://x/"}, InvalidTypeError, "mirrors must be a sequence"),
        ({"mirrors": []}, InvalidArgumentError, "at least one"),
        ({"mirrors": ["ftp://x/"]}, InvalidArgumentError, "mirrors\\[0\\] must be an http"),
        ({"mirrors": [3]}, InvalidTypeError, "mirrors\\[0\\] must be a str"),
        ({"source": 3}, InvalidTypeError, "source"),
        ({"progress": "yes"}, InvalidTypeError, "progress"),
        ({"timeout": 0}, InvalidArgumentError, "timeout"),
    ],
)
def test_bad_arguments_fail_before_anything_is_done(tmp_path, kwargs, error, words):
    with pytest.raises(error, match=words):
        download_mnist(tmp_path / "data", **kwargs)
    assert listing(tmp_path) == []


# ------------------------------------------------------------------------------------ --from a folder


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "uncompressed"])
def test_from_a_folder_at_hand(contents, tmp_path, compress):
    source = write_mnist_folder(tmp_path / "have", contents, compress=compress)
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    root = tmp_path / "data"
    assert download_mnist(root, source=source, mirrors=["http://127.0.0.1:9/"]) == root / MNIST_FOLDER
    assert_installed(root, contents)
    # Copied as they are; the source is left as it was.
    assert {p.name: p.read_bytes() for p in (root / MNIST_FOLDER).iterdir()} == before
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before


def test_from_a_folder_with_a_file_that_is_not_mnist(contents, tmp_path):
    # Well-formed test images, but other ones: only the checksum tells.
    other = mnist_contents(np.random.default_rng(99), train=50, test=20)[MNIST_FILES[2]]
    wrong = dict(contents, **{MNIST_FILES[2]: other})
    source = write_mnist_folder(tmp_path / "have", wrong)
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        download_mnist(root, source=source)
    message = str(info.value)
    assert str(source / MNIST_FILES[2]) in message and "MD5" in message and "nothing was installed" in message
    assert not root.exists()


def test_from_a_folder_with_a_malformed_file(contents, tmp_path):
    source = write_mnist_folder(tmp_path / "have", contents)
    (source / MNIST_FILES[0]).write_bytes(gz(contents[MNIST_FILES[0]][:-1]))
    with pytest.raises(DataError, match="truncated") as info:
        download_mnist(tmp_path / "data", source=source)
    assert str(source / MNIST_FILES[0]) in str(info.value)
    assert not (tmp_path / "data").exists()


def test_from_a_folder_missing_a_file(contents, tmp_path):
    source = write_mnist_folder(tmp_path / "have", contents)
    (source / MNIST_FILES[3]).unlink()
    with pytest.raises(DataError, match=f"holds neither {MNIST_FILES[3]} nor t10k-labels-idx1-ubyte"):
        download_mnist(tmp_path / "data", source=source)
    assert not (tmp_path / "data").exists()


def test_from_a_file_instead_of_a_folder(tmp_path):
    (tmp_path / "mnist.zip").write_bytes(b"x")
    with pytest.raises(DataError, match="is not a folder: --from \\(source=\\) for mnist takes the folder"):
        download_mnist(tmp_path / "data", source=tmp_path / "mnist.zip")
    with pytest.raises(DataError, match="does not exist"):
        download_mnist(tmp_path / "data", source=tmp_path / "nowhere")


def test_from_the_real_files_with_the_real_checksums(mnist_dir, tmp_path, monkeypatch):
    """The real files install with the published checksums; the stand-in (no real files here) with
    its own, given in their place."""
    real = (Path(mnist_dir) / MNIST_FILES[0]).stat().st_size >= 1 << 20
    if not real:
        own = {name: hashlib.md5(gzip.decompress((Path(mnist_dir) / name).read_bytes())).hexdigest()  # noqa: S324
               for name in MNIST_FILES}
        monkeypatch.setattr(mnist_download, "MNIST_MD5", own)
    folder = download_mnist(tmp_path, source=mnist_dir)
    assert sorted(p.name for p in folder.iterdir()) == sorted(MNIST_FILES)
    assert load_mnist(tmp_path)[1].shape == ((60_000,) if real else (1200,))


# ---------------------------------------------------------------------------------- the command line


def test_the_command_line_installs_from_a_folder(contents, tmp_path, capsys):
    source = write_mnist_folder(tmp_path / "have", contents)
    status = cli.main(["data", "download", "mnist", "--from", str(source), "--data-dir", str(tmp_path / "data")])
    assert status == 0
    assert capsys.readouterr().out == f"MNIST is in {tmp_path / 'data' / MNIST_FOLDER}\n"
    assert_installed(tmp_path / "data", contents)


def test_the_command_line_url_is_the_one_mirror(server, contents, tmp_path, capsys):
    httpd, base = server
    serve(httpd, "m", {name: gz(data) for name, data in contents.items()})
    status = cli.main(["data", "download", "mnist", "--quiet", "--url", f"{base}/m", "--data-dir", str(tmp_path)])
    assert status == 0, capsys.readouterr().err
    assert_installed(tmp_path, contents)
