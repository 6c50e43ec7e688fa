"""The content/style DataModule: random pairs of crops, a fixed validation set, broken files skipped."""

from __future__ import annotations

import importlib.util
import itertools
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stylexfer.training.data as data_module
from stylexfer.training.config import DataConfig
from stylexfer.training.data import (
    DataError,
    ImageSource,
    RandomCropStream,
    StyleTransferDataModule,
    list_images,
    resize_crop,
    sample_data,
)
from training_utils import REPO, make_broken_files, make_images


def datamodule(content: list[str], style: list[str], base: Path, **kwargs: object) -> StyleTransferDataModule:
    args: dict[str, object] = dict(
        content_dir=content, style_dir=style, resize=40, crop=32, batch_size=2, val_size=2, num_workers=0
    )
    args.update(kwargs)
    seed = int(args.pop("seed", 0))  # type: ignore[call-overload]
    return StyleTransferDataModule(DataConfig(**args), seed=seed, base_dir=base)  # type: ignore[arg-type]


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    make_images(tmp_path / "content" / "a", 3, seed=1)
    make_images(tmp_path / "content" / "b" / "deeper", 2, seed=2)  # searched recursively
    make_images(tmp_path / "style", 3, seed=3, size=(40, 60))
    return tmp_path


def test_list_images_is_recursive_sorted_and_checks_folders(folders: Path) -> None:
    files = list_images([folders / "content"], key="data.content_dir")
    assert len(files) == 5 and files == sorted(files)
    (folders / "empty").mkdir()
    with pytest.raises(DataError, match=r"data.style_dir: no images in .*empty"):
        list_images([folders / "empty"], key="data.style_dir")
    with pytest.raises(DataError, match="is not a folder"):
        list_images([folders / "missing"], key="data.content_dir")


def test_resize_crop_scales_the_shorter_side_then_crops() -> None:
    # a 200×100 image with its left half black, right half white
    image = Image.new("RGB", (200, 100), "white")
    image.paste((0, 0, 0), (0, 0, 100, 100))
    centre = resize_crop(image, resize=64, crop=32, rng=None)
    assert centre.size == (32, 32)
    # resized to 128×64, the centre 32×32 is at x 48..80: half black, half white
    bright = np.asarray(centre).mean(axis=2) > 127
    assert 0.3 < bright.mean() < 0.7
    rng = __import__("random").Random(0)
    crops = {resize_crop(image, resize=64, crop=32, rng=rng).tobytes() for _ in range(10)}
    assert len(crops) > 1  # random position
    assert resize_crop(Image.new("RGB", (1, 3000)), resize=64, crop=32, rng=rng).size == (
        32,
        32,
    )  # no huge strip


def test_relative_folders_resolve_against_the_base_dir(folders: Path) -> None:
    dm = datamodule(["content"], ["style"], folders)
    assert dm.folders["content"] == [str((folders / "content").resolve())]
    dm.setup("fit")
    assert all(Path(f).is_absolute() for f in dm.sources["content"].files)


def test_train_batches_are_random_pairs_and_validation_is_fixed(folders: Path) -> None:
    dm = datamodule(["content"], ["style"], folders, val_size=3)
    dm.setup("fit")
    loaders = dm.train_dataloader()
    assert set(loaders) == {"content", "style"}
    batches = [next(iter(loaders[name])) for name in ("content", "style")]
    for batch in batches:
        assert batch.shape == (2, 3, 32, 32) and batch.min() >= 0 and batch.max() <= 1
    stream = iter(loaders["content"])
    assert len({next(stream).numpy().tobytes() for _ in range(6)}) > 1
    first = next(iter(dm.val_dataloader()))
    second = next(iter(dm.val_dataloader()))
    assert set(first) == {"content", "style"} and first["content"].shape == (2, 3, 32, 32)
    assert torch.equal(first["content"], second["content"]) and torch.equal(first["style"], second["style"])
    assert len(dm.val_set) == 3


def test_separate_validation_folders(folders: Path) -> None:
    make_images(folders / "val_c", 2, seed=9)
    make_images(folders / "val_s", 2, seed=10)
    dm = datamodule(["content"], ["style"], folders, val_content_dir=["val_c"], val_style_dir=["val_s"])
    dm.setup()
    assert set(dm.sources) == {"content", "style", "val_content", "val_style"} and len(dm.val_set) == 2


def test_every_kind_of_broken_file_is_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unusable, convertible = make_broken_files(tmp_path / "content")
    make_images(tmp_path / "content", 2)
    make_images(tmp_path / "style", 2)
    dm = datamodule(["content"], ["style"], tmp_path, val_size=20)  # the probe visits every file
    with caplog.at_level(logging.WARNING, logger="stylexfer.training.data"):
        dm.setup("fit")
    assert dm.skipped == len(unusable) == 5
    bad = {
        Path(dm.sources["content"].files[i]).name for i, flag in enumerate(dm.sources["content"].bad) if flag
    }
    assert bad == {p.name for p in unusable}
    assert len(dm.val_set) == 2  # style has 2 images: pairs limited by the shorter side
    assert sum("skipped unusable content image" in r.message for r in caplog.records) == 5
    # the stream only ever yields good crops, the converted kinds among them
    stream = iter(RandomCropStream(dm.sources["content"], seed=0))
    crops = [next(stream) for _ in range(40)]
    assert all(c.shape == (3, 32, 32) and torch.isfinite(c).all() for c in crops)
    assert dm.skipped == 5  # each bad file counted once


def test_stream_skips_bad_files_met_during_training(tmp_path: Path) -> None:
    unusable, _ = make_broken_files(tmp_path / "mixed")
    make_images(tmp_path / "mixed", 1)
    files = list_images([tmp_path / "mixed"], key="data.style_dir")
    source = ImageSource(files, name="style", resize=40, crop=32, max_pixels=100_000_000)
    crops = list(itertools.islice(iter(RandomCropStream(source, seed=3)), 200))
    assert len(crops) == 200
    assert source.skipped == len(unusable)  # 200 draws from 11 files meet every bad one


def test_skips_in_loader_workers_are_counted_in_the_main_process(tmp_path: Path) -> None:
    unusable, _ = make_broken_files(tmp_path / "content")
    make_images(tmp_path / "content", 2)
    make_images(tmp_path / "style", 2)
    dm = datamodule(["content"], ["style"], tmp_path, num_workers=2, val_size=1, batch_size=1)
    dm.setup("fit")
    before = dm.skipped
    loader = dm.train_dataloader()["content"]
    workers = iter(loader)
    try:
        batches = list(itertools.islice(workers, 60))
    finally:
        # Lightning stops the workers this way at the end of a run. Left to the garbage collector, the
        # queues can be finalised before the iterator, and its shutdown then waits 5 s per worker.
        workers._shutdown_workers()  # type: ignore[attr-defined]
    assert len(batches) == 60
    assert before < dm.skipped <= len(unusable)  # flagged in worker processes, seen here


@pytest.mark.slow
def test_too_few_usable_images_is_a_clear_startup_error(tmp_path: Path) -> None:
    make_broken_files(tmp_path / "content")
    for p in (tmp_path / "content").glob("*"):
        if p.name in ("gray.png", "cmyk.jpg", "palette.png", "sixteen_bit.png"):
            p.unlink()
    make_images(tmp_path / "style", 4)
    dm = datamodule(["content"], ["style"], tmp_path, batch_size=2)
    with pytest.raises(
        DataError, match=r"data.content_dir: only 1 usable image\(s\) among 6 file\(s\) \(5 unusable\)"
    ):
        dm.setup("fit")


def test_huge_jpegs_are_decoded_at_reduced_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("RGB", (1600, 1200), (200, 30, 30)).save(tmp_path / "big.jpg", quality=80)
    sizes = []
    real = data_module.load_image

    def spy(path, **kwargs):  # type: ignore[no-untyped-def]
        image = real(path, **kwargs)
        sizes.append((kwargs.get("draft_shorter_side"), image.size))
        return image

    monkeypatch.setattr(data_module, "load_image", spy)
    source = ImageSource([str(tmp_path / "big.jpg")], name="content", resize=64, crop=32, max_pixels=10**8)
    assert source.load(0, rng=None).shape == (3, 32, 32)
    draft, size = sizes[0]
    assert draft == 64 and size[1] < 1200 / 4  # JPEG draft mode: 1/8 scale, not full decode


def test_sample_data_is_generated_once_and_deterministic(tmp_path: Path) -> None:
    content, style = sample_data(tmp_path / "a", count=4, size=64)
    assert len(list(content.glob("*.png"))) == 4 and len(list(style.glob("*.png"))) == 2
    stamp = {p: p.stat().st_mtime_ns for p in content.glob("*.png")}
    sample_data(tmp_path / "a", count=4, size=64)
    assert {p: p.stat().st_mtime_ns for p in content.glob("*.png")} == stamp
    other, _ = sample_data(tmp_path / "b", count=4, size=64)
    assert (other / "content_001.png").read_bytes() == (content / "content_001.png").read_bytes()
    images = [Image.open(p) for p in sorted(style.glob("*.png"))]
    assert all(im.mode == "RGB" and min(im.size) == 64 for im in images)


def _load_script(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module  # worker processes unpickle its functions by module name
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_prepare_data_resizes_to_the_shorter_side_in_parallel(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    prepare = _load_script("prepare_data")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    Image.new("RGB", (900, 600), "blue").save(src / "sub" / "wide.jpg")
    Image.new("RGB", (150, 100), "red").save(src / "small.png")  # already small: never upscaled
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    code = prepare.main([str(src), str(tmp_path / "dst"), "--size", "128", "--workers", "2"])
    assert code == 0
    assert Image.open(tmp_path / "dst" / "sub" / "wide.jpg").size == (192, 128)
    assert Image.open(tmp_path / "dst" / "small.jpg").size == (150, 100)
    out = capsys.readouterr()
    assert "2 written" in out.out and "1 unusable" in out.out
    # a second pass skips what exists
    assert prepare.main([str(src), str(tmp_path / "dst"), "--size", "128", "--workers", "1"]) == 0
    assert "2 already there" in capsys.readouterr().out
