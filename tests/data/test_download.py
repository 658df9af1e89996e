"""The download path against a local HTTP server on 127.0.0.1: never the internet."""

import gzip
import hashlib
import http.server
import sys
import threading
from typing import ClassVar

import numpy as np
import pytest

from cnnsweep.data.download import DownloadError, RemoteFile, download
from cnnsweep.data.idx import read_idx, write_idx
from cnnsweep.data.mnist import locate_mnist


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
