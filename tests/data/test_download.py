"""The download path against a local HTTP server on 127.0.0.1: never the internet."""

import gzip
import hashlib
import http.server
import io
import re
import sys
import threading
from typing import ClassVar

import numpy as np
import pytest

from cnnsweep.data.download import DownloadError, RemoteFile, download
from cnnsweep.data.idx import read_idx, write_idx
from cnnsweep.data.mnist import MissingDataError, locate_mnist


class Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict] = {}  # path -> (bytes, behaviour)

    def do_GET(self):
        body, behaviour = self.routes.get(self.path, (None, "missing"))
        if behaviour == "missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if behaviour == "interrupt":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Handler.routes = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler.routes
    httpd.shutdown()
    httpd.server_close()


def fake_file(tmp_path, name, n=5):
    """An IDX file, its RemoteFile record (checksums of the content) and its gzip blob."""
    array = np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2)
    write_idx(tmp_path / name, array)
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).unlink()
    remote = RemoteFile(name, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
    return remote, gzip.compress(data), array


def test_success_verifies_and_places_the_file(server, tmp_path, capsys):
    url, routes = server
    remote, blob, array = fake_file(tmp_path, "a-idx3-ubyte")
    routes["/m/a-idx3-ubyte.gz"] = (blob, "ok")
    dest = tmp_path / "data"
    path = download(remote, dest, [f"{url}/m"], progress=sys.stderr)
    assert path == dest / "a-idx3-ubyte.gz"
    np.testing.assert_array_equal(read_idx(path), array)
    assert "100.0%" in capsys.readouterr().err  # progress was shown
    assert sorted(p.name for p in dest.iterdir()) == ["a-idx3-ubyte.gz"]


def test_dead_first_mirror_falls_back_to_the_next(server, tmp_path):
    url, routes = server
    remote, blob, _ = fake_file(tmp_path, "b")
    routes["/good/b.gz"] = (blob, "ok")
    path = download(remote, tmp_path / "d", [f"{url}/dead", "http://127.0.0.1:9/x",
                                             f"{url}/good"], progress=None, timeout=5)
    assert path.exists()


def test_checksum_mismatch_leaves_nothing_behind(server, tmp_path):
    url, routes = server
    remote, _, _ = fake_file(tmp_path, "c")
    _, other_blob, _ = fake_file(tmp_path, "c", n=6)
    routes["/m/c.gz"] = (other_blob, "ok")
    with pytest.raises(DownloadError, match=r"could not download c:\n.*checksum mismatch"):
        download(remote, tmp_path / "d", [f"{url}/m"], progress=None)
    assert list((tmp_path / "d").iterdir()) == []


def test_interrupted_transfer_leaves_nothing_behind(server, tmp_path):
    url, routes = server
    remote, blob, _ = fake_file(tmp_path, "e", n=2000)
    routes["/m/e.gz"] = (blob, "interrupt")
    with pytest.raises(DownloadError, match=r"e.gz: .*(interrupted|IncompleteRead|incomplete)"):
        download(remote, tmp_path / "d", [f"{url}/m"], progress=None)
    assert list((tmp_path / "d").iterdir()) == []


def test_locate_downloads_only_the_missing_files(server, tmp_path):
    url, routes = server
    files, arrays = {}, {}
    for key in ("x_train", "t_train", "x_test", "t_test"):
        remote, blob, arrays[key] = fake_file(tmp_path, f"{key}-idx")
        files[key] = remote
        routes[f"/m/{key}-idx.gz"] = (blob, "ok")
    data = tmp_path / "mnist"
    data.mkdir()
    write_idx(data / "x_train-idx", arrays["x_train"])  # already there, uncompressed
    paths = locate_mnist(data, fetch=True, mirrors=(f"{url}/m",), files=files, progress=None)
    assert paths["x_train"] == data / "x_train-idx"
    assert paths["t_test"] == data / "t_test-idx.gz"


def test_a_mistyped_folder_says_no_files_first_and_is_not_left_behind(server, tmp_path):
    url, routes = server  # serves nothing: every download fails with 404
    files = {key: fake_file(tmp_path, f"{key}-idx")[0]
             for key in ("x_train", "t_train", "x_test", "t_test")}
    typo = tmp_path / "mnst" / "nested"
    progress = io.StringIO()
    with pytest.raises(MissingDataError) as caught:
        locate_mnist(typo, fetch=True, mirrors=(f"{url}/m",), files=files, progress=progress)
    assert progress.getvalue().startswith(f"No MNIST files in {typo}: downloading them")
    message = str(caught.value)
    assert message.startswith(f"no MNIST files in {typo}, and downloading them failed. Check "
                              "the path for a typo, put x_train-idx(.gz), t_train-idx(.gz), "
                              "x_test-idx(.gz), t_test-idx(.gz) there")
    assert "dataset.download=false" in message and "404" in message
    assert not (tmp_path / "mnst").exists()  # the folders the attempt created are gone


def test_a_failed_download_keeps_the_files_it_verified(server, tmp_path):
    url, routes = server
    files = {}
    for key in ("x_train", "t_train", "x_test", "t_test"):
        files[key], blob, _ = fake_file(tmp_path, f"{key}-idx")
        if key != "x_test":
            routes[f"/m/{key}-idx.gz"] = (blob, "ok")
    data = tmp_path / "new"
    with pytest.raises(MissingDataError, match=r"no MNIST files in .*downloading them failed"):
        locate_mnist(data, fetch=True, mirrors=(f"{url}/m",), files=files, progress=None)
    assert sorted(p.name for p in data.iterdir()) == ["t_train-idx.gz", "x_train-idx.gz"]


def test_a_data_dir_that_is_a_file_is_named_as_such(tmp_path):
    path = tmp_path / "mnist.gz"
    path.write_bytes(b"not a folder")
    expected = rf"{re.escape(str(path))} is a file, not a folder: point dataset.data_dir"
    with pytest.raises(MissingDataError, match=expected):
        locate_mnist(path, fetch=True, progress=None)
