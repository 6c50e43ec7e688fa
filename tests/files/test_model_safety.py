"""Hostile or broken model files and output locations (issue 9 items 5, 9, 10, 12 and the smaller
ones; issue 10's model-file metadata): each refused with one line, nothing written."""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

from model_factories import adain_net, johnson_net, save_adain_ckpt, save_johnson_ckpt
from stylexfer.cli.main import main
from stylexfer.errors import ModelFileError, one_line
from stylexfer.files.modelfile import ModelSpec, build_net, read_model_file, read_spec

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


# ---------------------------------------------------------------------------------------- zip bomb


class _Storage:
    pass


_STORAGE = _Storage()


class _Tensor:
    def __init__(self, numel: int) -> None:
        self.numel = numel

    def __reduce_ex__(self, protocol):  # noqa: ANN001, ANN204 (pickle API)
        args = (_STORAGE, 0, (self.numel,), (1,), False, collections.OrderedDict())
        return (torch._utils._rebuild_tensor_v2, args)


def _zip(members: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """(name, method, payload, crc, uncompressed size) -> a zip archive (raw deflate allowed)."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, method, payload, crc, size in members:
        offset, raw = out.tell(), name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc,
                              len(payload), size, len(raw), 0) + raw + payload)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc,
                                  len(payload), size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
    directory, start = central.getvalue(), out.tell()
    out.write(directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                                      len(directory), start, 0))
    return out.getvalue()


def write_zip_bomb(path: Path, mib: int = 512) -> Path:
    """A torch.save-format checkpoint (~0.5 MB on disk) whose one tensor inflates to `mib` MiB of
    zeros: torch.load really allocates and inflates it (measured: 256 MiB took 766 MB peak)."""
    chunk, numel = 1 << 20, (mib << 20) // 4

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):  # noqa: ANN001, ANN202
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if obj is _STORAGE else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(
        {"hyper_parameters": {}, "state_dict": {"net.decoder.conv1_1.weight": _Tensor(numel)}}
    )
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(bytes(chunk)) + deflate.flush(zlib.Z_FULL_FLUSH)
    steady = deflate.compress(bytes(chunk)) + deflate.flush(zlib.Z_FULL_FLUSH)  # same for every MiB
    body = first + steady * (mib - 1) + deflate.flush()
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(bytes(chunk), crc)

    def stored(name: str, data: bytes) -> tuple[str, int, bytes, int, int]:
        return (name, 0, data, zlib.crc32(data), len(data))

    path.write_bytes(_zip([stored("archive/data.pkl", buffer.getvalue()),
                           stored("archive/byteorder", b"little"), stored("archive/version", b"3\n"),
                           ("archive/data/0", 8, body, crc, mib << 20)]))
    return path


_PEAK = """
import sys, warnings
warnings.simplefilter("ignore")
from stylexfer.cli.main import main
def peak():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) // 1024
import stylexfer.files.export, stylexfer.training.callbacks
before = peak()
rc = main(sys.argv[1:])
print("PEAK", before, peak(), rc, file=sys.stderr)
"""


@pytest.mark.slow
@pytest.mark.xdist_group("memory")  # under pytest -n (--dist loadgroup): never beside the other memory-heavy test
def test_zip_bomb_is_refused_before_it_inflates(tmp_path):
    bomb = write_zip_bomb(tmp_path / "bomb.ckpt", mib=512)
    assert bomb.stat().st_size < 1 << 20
    out = tmp_path / "m.safetensors"
    done = subprocess.run([sys.executable, "-c", _PEAK, "export", str(bomb), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("PEAK")]
    before, after, rc = (int(x) for x in done.stderr.split("PEAK")[1].split())
    assert rc == 2 and len(lines) == 1 and "decompression bomb" in lines[0], done.stderr
    assert after - before < 100, f"peak memory grew by {after - before} MB"
    assert not out.exists()


def test_zip_bomb_is_refused_by_every_loader(tmp_path):
    from stylexfer.files.convert import read_state_dict
    from stylexfer.training.callbacks import CheckpointError, checkpoint_step

    folder = tmp_path / ("a-long-folder-name-" * 6)  # the refusal must survive a long path unabridged
    folder.mkdir()
    bomb = write_zip_bomb(folder / "bomb.ckpt", mib=80)
    for load in (read_model_file, read_spec, read_state_dict):
        with pytest.raises(ModelFileError, match="decompression bomb"):
            load(bomb)
    with pytest.raises(CheckpointError, match="decompression bomb"):
        checkpoint_step(bomb)  # training's resume check


def test_archive_ceiling_is_configurable_and_real_files_pass(tmp_path, monkeypatch):
    ckpt = save_johnson_ckpt(tmp_path / "j.ckpt", johnson_net())
    build_net(read_model_file(ckpt))  # a real checkpoint passes the default ceiling
    monkeypatch.setenv("STYLEXFER_MAX_MODEL_BYTES", "1000")
    with pytest.raises(ModelFileError, match="over the 0 MiB limit .*STYLEXFER_MAX_MODEL_BYTES"):
        read_model_file(ckpt)


# ------------------------------------------------------------------------------ odd tensors, NaN


@pytest.mark.parametrize("kind", ["sparse", "quantized", "meta"])
def test_sparse_quantized_and_meta_tensors_are_refused(tmp_path, capsys, kind):
    state = {f"net.{k}": v for k, v in johnson_net().state_dict().items()}
    weight = state["net.conv1.conv.weight"]
    if kind == "sparse":
        state["net.conv1.conv.weight"] = weight.to_sparse()
    elif kind == "quantized":
        state["net.conv1.conv.weight"] = torch.quantize_per_tensor(weight, 0.01, 0, torch.qint8)
    else:
        state["net.conv1.conv.weight"] = torch.empty(weight.shape, device="meta")
    ckpt = tmp_path / "odd.ckpt"
    torch.save({"hyper_parameters": {}, "state_dict": state,
                "stylexfer": {"format": 1, "model": "johnson", "net_prefix": "net."}}, ckpt)
    out = tmp_path / "m.safetensors"
    assert main(["export", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "conv1.conv.weight" in err and kind in err, err
    assert not out.exists()
    with pytest.raises(ModelFileError, match=kind):
        read_model_file(ckpt)


def test_nan_vgg_named_by_a_checkpoint_is_refused(tmp_path):
    net = adain_net()
    vgg = tmp_path / "vgg19.pth"
    torch.save({k: torch.full_like(v, float("nan")) for k, v in net.encoder.state_dict().items()}, vgg)
    ckpt = save_adain_ckpt(tmp_path / "a.ckpt", net, encoder_weights=str(vgg))
    with pytest.raises(ModelFileError, match="encoder weights .*vgg19.pth.* NaN") as info:
        build_net(read_model_file(ckpt))
    assert "\n" not in str(info.value)


def test_nan_in_an_import_source_is_refused(tmp_path, capsys):
    from model_factories import fast_neural_style_state, orig_fast_neural_style

    state = fast_neural_style_state(orig_fast_neural_style())
    state["in1.weight"] = state["in1.weight"] * float("inf")
    source = tmp_path / "mosaic.pth"
    torch.save(state, source)
    assert main(["import", "fast-neural-style", str(source), "--out", str(tmp_path / "m.safetensors")]) == 2
    assert "in1.weight" in capsys.readouterr().err and not (tmp_path / "m.safetensors").exists()


# ------------------------------------------------------------------------------ output locations


def test_export_checks_every_output_before_writing(tmp_path, capsys):
    ckpt = save_johnson_ckpt(tmp_path / "j.ckpt", johnson_net())
    out = tmp_path / "m.safetensors"
    rc = main(["export", str(ckpt), "--out", str(out), "--torchscript", str(tmp_path / "no" / "x.pt")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "no such folder" in err, err
    assert not out.exists()
    (tmp_path / "adir").mkdir()
    assert main(["export", str(ckpt), "--out", str(out), "--onnx", str(tmp_path / "adir")]) == 2
    assert "is a folder" in capsys.readouterr().err and not out.exists()


def test_exported_safetensors_respect_the_umask(tmp_path):
    ckpt = save_johnson_ckpt(tmp_path / "j.ckpt", johnson_net())
    out = tmp_path / "m.safetensors"
    old = os.umask(0o022)
    try:
        assert main(["export", str(ckpt), "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)


def test_download_refuses_a_cache_dir_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder")
    assert main(["download", "mosaic", "--cache-dir", str(blocker), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err, err
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.slow
def test_onnx_export_leaves_nothing_in_home(tmp_path):
    pytest.importorskip("onnxruntime")
    ckpt = save_johnson_ckpt(tmp_path / "j.ckpt", johnson_net())
    home = tmp_path / "home"
    home.mkdir()
    env = os.environ | {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    code = "import sys; from stylexfer.cli.main import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "export", str(ckpt), "--out",
                           str(tmp_path / "m.safetensors"), "--onnx", str(tmp_path / "m.onnx")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []


# -------------------------------------------------------------------------- metadata and read_spec


def test_our_checkpoints_are_read_from_their_stylexfer_block(tmp_path):
    net = johnson_net()
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    # The block wins over hyper-parameters that the old guessing would misread as AdaIN.
    hparams = {"name": "johnson", "model": "not-adain-ignored", "output": "clamp", "vgg_weights": "random"}
    block = {"format": 1, "model": "johnson", "net_prefix": "net."}
    ckpt = tmp_path / "j.ckpt"
    torch.save({"hyper_parameters": hparams | {"model": "adain-like"}, "state_dict": state,
                "stylexfer": block}, ckpt)
    assert read_model_file(ckpt).spec == ModelSpec("johnson", output="clamp") == read_spec(ckpt)
    torch.save({"hyper_parameters": hparams, "state_dict": state, "stylexfer": block | {"format": 99}}, ckpt)
    with pytest.raises(ModelFileError, match="format 99 is newer"):
        read_model_file(ckpt)
    torch.save({"hyper_parameters": {}, "state_dict": state,
                "stylexfer": block | {"model": "adain"}}, ckpt)
    with pytest.raises(ModelFileError, match="says model 'adain' but holds no net.decoder"):
        read_model_file(ckpt)


def test_read_spec_is_cheap_and_matches_read_model_file(tmp_path):
    net = adain_net()
    ckpt = save_adain_ckpt(tmp_path / "a.ckpt", net)
    assert read_spec(ckpt) == read_model_file(ckpt).spec == ModelSpec("adain", encoder="embedded")
    out = tmp_path / "a.safetensors"
    assert main(["export", str(ckpt), "--out", str(out)]) == 0
    assert read_spec(out) == read_model_file(out).spec
    with pytest.raises(ModelFileError, match="no such model file"):
        read_spec(tmp_path / "missing.ckpt")


def test_one_line_quotes_the_first_line_escaped_and_short():
    assert one_line(ValueError("first\nsecond")) == "first"
    assert one_line(OSError()) == "OSError"
    assert one_line(KeyError("a\x1bb"), with_type=True) == "KeyError: 'a\\x1bb'"
    assert len(one_line(ValueError("x" * 500))) == 160
