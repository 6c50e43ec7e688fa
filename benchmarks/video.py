"""Video cases: frames/s of `stylize_video` on short 16:9 clips (decode + network + H.264 encode, the
path `stylexfer stylize clip.mp4` takes) against the network alone on the same frames already
decoded, and the decode+encode share of the pipeline's time (target: under 15 % at 512p)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmarks.harness import BenchConfig, Case, CaseResult, NotAvailable, make_net

BATCH = 4  # frames per network call in both cases


def _clip_size(height: int) -> tuple[int, int]:
    return 2 * round(height * 16 / 9 / 2), height  # 16:9, even sides (yuv420p)


def write_clip(path: Any, frames: int, width: int, height: int) -> Any:
    """A moving pattern (a coloured disc over gradients and texture) as H.264 yuv420p, 24 fps."""
    import av

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 40, (height, width, 1))
    yy, xx = np.mgrid[0:height, 0:width]
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=24)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    for i in range(frames):
        cx, cy = width * (0.2 + 0.6 * i / max(1, frames - 1)), height / 2
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2 < (height / 5) ** 2)[..., None]
        base = np.stack([xx * 200 // width, yy * 200 // height, np.full_like(xx, 120)], -1) + texture
        array = np.where(disc, np.array([230, 60, 40]), base).clip(0, 255).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path


def _stream_factory(kind: str, cfg: BenchConfig, smooth: float) -> Callable[[], Any]:
    from stylexfer.files.modelfile import ModelSpec
    from stylexfer.inference import FrameStream, Stylizer, StylizeRequest

    spec = ModelSpec("adain", encoder="random") if kind == "adain" else ModelSpec("johnson")
    stylizer = Stylizer(make_net(kind, cfg), spec, device=cfg.device)
    styles = [torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))] if kind == "adain" else None
    codes = stylizer.encode_styles(styles) if styles else None
    request = StylizeRequest(n_styles=1 if styles else 0, tile=False)
    return lambda: FrameStream(stylizer, request, codes, smooth=smooth)


def _clip(cfg: BenchConfig, height: int) -> Any:
    try:
        import av  # noqa: F401
    except ImportError:
        raise NotAvailable("PyAV not installed (pip install 'stylexfer[video]')") from None
    width, height = _clip_size(height)
    return write_clip(cfg.workdir / "video" / f"clip{height}p-{cfg.video_frames}.mp4", cfg.video_frames, width, height)


def pipeline_case(kind: str, height: int, smooth: float = 0.0) -> Case:
    """stylize_video end to end: decode, stylize in batches of 4, encode (libx264 CRF 18, medium)."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        from stylexfer.inference import stylize_video

        clip = _clip(cfg, height)
        new_stream = _stream_factory(kind, cfg, smooth)
        out = cfg.workdir / "video" / f"out-{kind}-{height}p.mp4"
        shares: list[float] = []
        extra: dict[str, Any] = {"frames": cfg.video_frames, "size": "x".join(map(str, _clip_size(height))),
                                 "batch": BATCH, "smooth": smooth}

        def run() -> Any:
            report = stylize_video(clip, out, new_stream(), batch_size=BATCH, overwrite=True)
            shares.append(report.io_share)
            extra.update(io_share=statistics.median(shares), decode_s=report.decode_s,
                         encode_s=report.encode_s, network_s=report.network_s, flicker=report.flicker)
            return report

        return run, cfg.video_frames, extra

    name = f"video/{kind}/{height}p/pipeline" + (f"/smooth{smooth:g}" if smooth else "")
    return Case(name, "video", setup, count_flops=False)


def network_case(kind: str, height: int) -> Case:
    """The same frames through FrameStream alone, decoded beforehand: what the pipeline adds is I/O."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        from stylexfer.files.video import VideoReader

        with VideoReader(_clip(cfg, height)) as reader:
            batches = list(reader.batches(BATCH))
        new_stream = _stream_factory(kind, cfg, 0.0)

        def run() -> Any:
            stream = new_stream()
            return [stream(b) for b in batches]

        return run, cfg.video_frames, {"frames": cfg.video_frames, "batch": BATCH}

    return Case(f"video/{kind}/{height}p/network", "video", setup, memory=False)


def video_cases(cfg: BenchConfig) -> list[Case]:
    heights = [s for s in cfg.sizes if s <= 512] or [min(cfg.sizes)]
    cases: list[Case] = []
    for height in heights:
        for kind in ("adain", "johnson"):
            cases += [pipeline_case(kind, height), network_case(kind, height)]
    cases.append(pipeline_case("johnson", heights[0], smooth=0.9))
    return cases


def video_targets(results: list[CaseResult]) -> list[dict[str, Any]]:
    """Decode+encode under 15 % of the pipeline's time at 512p (each kind), from the pipeline's own
    clocks; the frames/s against the network alone are in the table."""
    rows = []
    for r in results:
        if r.group != "video" or not r.name.endswith("/512p/pipeline") or r.status != "ok":
            continue
        share = float(r.extra.get("io_share", 0.0))
        network = next((n for n in results if n.name == r.name.replace("pipeline", "network") and n.status == "ok"),
                       None)
        alone = f", network alone {network.items_per_s:.2f} frames/s" if network and network.items_per_s else ""
        rows.append({
            "target": f"{r.name}: decode+encode < 15 % of the time",
            "value": share,
            "shown": f"{share:.1%} ({r.items_per_s or 0:.2f} frames/s with I/O{alone})",
            "met": share < 0.15,
        })
    return rows
