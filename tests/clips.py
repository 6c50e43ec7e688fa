"""Small video clips generated with PyAV for the video tests (the CLI's and the GUI's): nothing is
read from outside the test's own folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

AUDIO_RATE = 8000


def make_clip(path: Path, *, frames: int = 8, size: tuple[int, int] = (32, 24), rate: int = 12,
              codec: str = "libx264", pix_fmt: str = "yuv420p", audio: bool = False, fmt: str | None = None,
              audio_length: float = 1.0) -> Path:
    """A clip of moving colour bars (and a mono AAC tone when `audio`, `audio_length` × the video's)."""
    import av  # the `video` extra: callers skip without it (pytest.importorskip)

    width, height = size
    container = av.open(str(path), "w", format=fmt)
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    sound = None
    if audio:
        sound = container.add_stream("aac", rate=AUDIO_RATE)
        sound.layout = "mono"
    x = np.arange(width)[None, :, None]
    for i in range(frames):
        array = np.broadcast_to(((x * 8 + i * 16 + np.array([0, 85, 170])) % 256), (height, width, 3))
        for packet in stream.encode(av.VideoFrame.from_ndarray(array.astype(np.uint8), format="rgb24")):
            container.mux(packet)
    if sound is not None:
        samples = int(AUDIO_RATE * frames * audio_length) // rate
        t = np.arange(samples, dtype=np.float32) / AUDIO_RATE
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[start : start + 1024]
            chunk = np.pad(chunk, (0, 1024 - chunk.size))
            frame = av.AudioFrame.from_ndarray(chunk[None], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = AUDIO_RATE, start
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path


def make_vfr_clip(path: Path, stamps_ms: tuple[int, ...] = (0, 40, 80, 500, 900, 1300, 1700, 1813), *,
                  rate: int = 10, size: tuple[int, int] = (32, 24)) -> Path:
    """A variable-frame-rate Matroska clip: one frame at each of `stamps_ms` (milliseconds), the stream
    declaring `rate` frames per second (8 frames over 1.9 s at a declared 10 fps: about 19 expected)."""
    from fractions import Fraction

    import av

    width, height = size
    container = av.open(str(path), "w", format="matroska")
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.time_base = Fraction(1, 1000)
    x = np.arange(width)[None, :, None]
    for i, ms in enumerate(stamps_ms):
        array = np.broadcast_to(((x * 8 + i * 16 + np.array([0, 85, 170])) % 256), (height, width, 3))
        frame = av.VideoFrame.from_ndarray(array.astype(np.uint8), format="rgb24")
        frame.pts, frame.time_base = ms, Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path
