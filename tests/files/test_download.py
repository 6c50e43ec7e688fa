"""The downloader against a small HTTP server on 127.0.0.1 (no test reaches the internet)."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest
import torch

from model_factories import fast_neural_style_state, orig_fast_neural_style
from stylexfer.cli import main
from stylexfer.files import download
from stylexfer.files.download import Asset, DownloadError, PublicModel, download_file, fetch_model
from stylexfer.inference import load_model


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    failed: dict[str, bool] = {}

    def do_GET(self):  # noqa: N802 (http.server API)
        name = self.path.lstrip("/")
        if name.startswith("flaky/") and not self.failed.get(name):  # 503 once, then the file
            self.failed[name] = True
            self.send_error(503)
            return
        name = name.removeprefix("flaky/")
        if name.startswith("cut/"):  # announces the full length, sends half, hangs up
            body = self.files[name[4:]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if name not in self.files:
            self.send_error(404)
            return
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    # a short poll: shutdown() waits up to one poll interval (0.5 s by default) per test
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.files
    httpd.shutdown()
    httpd.server_close()
    _Handler.files.clear()
    _Handler.failed.clear()


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    """pooch waits 1 s, 2 s … between tries: not in tests."""
    import types

    import pooch.core

    monkeypatch.setattr(pooch.core, "time", types.SimpleNamespace(sleep=lambda seconds: None))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_download_verifies_sha256(tmp_path, server):
    url, files = server
    files["w.bin"] = b"weights" * 1000
    good = hashlib.sha256(files["w.bin"]).hexdigest()
    path = download_file(f"{url}/w.bin", tmp_path / "w.bin", sha256=good, progress=False)
    assert path.read_bytes() == files["w.bin"]
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        download_file(f"{url}/w.bin", tmp_path / "other.bin", sha256="0" * 64, progress=False)
    assert _leftovers(tmp_path) == ["w.bin"]  # nothing under the final name, no temporary file


def test_truncated_and_missing_downloads_leave_nothing(tmp_path, server):
    url, files = server
    files["big.bin"] = bytes(range(256)) * 400
    with pytest.raises(DownloadError, match="cut short"):
        download_file(f"{url}/cut/big.bin", tmp_path / "big.bin", progress=False)
    with pytest.raises(DownloadError, match="cannot download .*404"):
        download_file(f"{url}/nope.bin", tmp_path / "nope.bin", progress=False)
    assert _leftovers(tmp_path) == []


def test_a_failed_attempt_is_retried(tmp_path, server):
    url, files = server
    files["w.bin"] = b"weights"
    with pytest.raises(DownloadError, match="HTTP 503"):
        download_file(f"{url}/flaky/w.bin", tmp_path / "w.bin", progress=False, retries=0)
    _Handler.failed.clear()
    path = download_file(f"{url}/flaky/w.bin", tmp_path / "w.bin", progress=False, retries=1)
    assert path.read_bytes() == b"weights" and _leftovers(tmp_path) == ["w.bin"]


@pytest.mark.slow
def test_fetch_model_downloads_extracts_and_imports(tmp_path, server, monkeypatch, capsys):
    url, files = server
    net = orig_fast_neural_style()
    buffer = io.BytesIO()
    torch.save(fast_neural_style_state(net), buffer)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("saved_models/mosaic.pth", buffer.getvalue())
        zf.writestr("../../evil.pth", b"never extracted")
    files["saved_models.zip"] = archive.getvalue()
    sha = hashlib.sha256(files["saved_models.zip"]).hexdigest()
    models = {
        "mosaic": PublicModel(
            "fast-neural-style",
            (Asset(f"{url}/saved_models.zip", "saved.zip", sha, "mosaic.pth"),),
            "test",
        )
    }
    monkeypatch.setattr(download, "public_models", lambda: models)
    import pooch

    pooch_said = io.StringIO()  # pooch's logger keeps the stderr it found at import: catch what it says
    (handler,) = pooch.get_logger().handlers
    monkeypatch.setattr(handler, "stream", pooch_said)
    cache = tmp_path / "cache"
    assert main(["download", "mosaic", "--cache-dir", str(cache), "--quiet"]) == 0
    path = cache / "mosaic.safetensors"
    assert str(path) in capsys.readouterr().out
    stylizer = load_model(path, device="cpu")
    content = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        expected = net(content * 255).clamp(0, 255) / 255
    assert (stylizer.stylize(content) - expected).abs().max() < 1e-4
    assert not (tmp_path / "evil.pth").exists() and not any(
        p.name == "evil.pth" for p in tmp_path.rglob("*")
    )
    # A second fetch reuses the imported file without touching the network.
    files.clear()
    assert fetch_model("mosaic", cache_dir=cache, progress=False, models=models) == path
    # A corrupted archive (hash mismatch) is refused with one line and exit 2.
    files["saved_models.zip"] = archive.getvalue()[:-10] + b"corrupted!"
    rc = main(["download", "mosaic", "--cache-dir", str(tmp_path / "c2"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "SHA-256 mismatch" in err and err.count("\n") == 1
    assert pooch_said.getvalue() == ""  # --quiet is quiet: pooch's own lines never reach the terminal
    assert not (tmp_path / "c2" / "mosaic.safetensors").exists()
    assert not (tmp_path / "c2" / "downloads" / "saved.zip").exists()


def test_download_lists_names(capsys):
    assert main(["download"]) == 0
    listed = capsys.readouterr().out
    for name in ("mosaic", "candy", "rain-princess", "udnie", "adain"):
        assert name in listed
    assert main(["download", "picasso"]) == 2
    assert "unknown model 'picasso'" in capsys.readouterr().err
