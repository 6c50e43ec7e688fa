"""Stylizing a clip frame by frame: :class:`FrameStream` (styles encoded once, statistics smoothed
across frames, see temporal.py), :class:`FlickerMeter`, the figure that says whether it helps, and
:func:`stylize_video`, a video file in, a video file out (files/video.py: streaming, audio copied,
written under a temporary name and renamed at the end).

```python
stream = FrameStream(stylizer, request, ["style.jpg"], smooth=0.9)   # one per clip
for batch in batches:                                                 # (B, 3, H, W) in [0, 1], in order
    out = stream(batch)
```

flicker = mean |out_t − out_{t−1}| − mean |in_t − in_{t−1}| over consecutive frames, in 1/255 units:
the frame-to-frame change the stylization adds on top of the content's own motion (negative when the
output changes less than the input, e.g. a style that flattens detail).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from stylexfer.files.video import VideoInfo, VideoReader, VideoWriter, writing
from stylexfer.inference.inputs import ImageLike
from stylexfer.inference.request import StylizeRequest
from stylexfer.inference.stylizer import Stylizer
from stylexfer.inference.temporal import StatisticsSmoother
from stylexfer.nets.codes import StyleCode


class FrameStream:
    """Stylize one clip's frames in order, batch by batch, with the same request throughout.

    styles (models that take one): images or StyleCodes, encoded once here. smooth: S of temporal.py (0 = off).
    """

    def __init__(self, stylizer: Stylizer, request: StylizeRequest,
                 styles: Sequence[ImageLike | StyleCode] | None = None, *, smooth: float = 0.0) -> None:
        request.check_model(stylizer.kind, stylizer.name)
        self.stylizer, self.request = stylizer, request
        self.smoother = StatisticsSmoother(smooth)
        self.codes: list[StyleCode] | None = (
            stylizer.encode_styles(list(styles or []), style_size=request.style_size) if stylizer.needs_style
            else None
        )
        self.frames = 0

    def __call__(self, frames: Tensor) -> Tensor:
        """(B, 3, H, W) consecutive frames in [0, 1] -> stylized (B, 3, H, W) float32 on the CPU."""
        out = self.stylizer.run(self.request, frames, self.codes,
                                smoother=self.smoother if self.smoother.smooth else None)
        self.frames += frames.shape[0]
        return out


class FlickerMeter:
    """Accumulates mean |Δ| of consecutive input frames and of consecutive output frames."""

    def __init__(self) -> None:
        self._last: tuple[Tensor, Tensor] | None = None
        self.input_sum = self.output_sum = 0.0
        self.pairs = 0

    def add(self, inputs: Tensor, outputs: Tensor) -> None:
        """inputs, outputs: (B, 3, H, W) in [0, 1], the next B frames of the clip."""
        for x, y in zip(inputs.float(), outputs.float(), strict=True):
            if self._last is not None:
                self.input_sum += float((x - self._last[0]).abs().mean())
                self.output_sum += float((y - self._last[1]).abs().mean())
                self.pairs += 1
            self._last = (x, y)

    @property
    def input_change(self) -> float:
        """Mean |in_t − in_{t−1}| in 1/255 units."""
        return 255.0 * self.input_sum / self.pairs if self.pairs else 0.0

    @property
    def output_change(self) -> float:
        return 255.0 * self.output_sum / self.pairs if self.pairs else 0.0

    @property
    def flicker(self) -> float:
        """output_change − input_change, 1/255 units; 0 for a clip of one frame."""
        return self.output_change - self.input_change


@dataclass
class VideoReport:
    """What :func:`stylize_video` did: frames, seconds per stage, the flicker figures (1/255 units)."""

    frames: int
    info: VideoInfo
    network_s: float
    decode_s: float
    encode_s: float
    flicker: float
    input_change: float
    output_change: float

    @property
    def io_share(self) -> float:
        """Decoding and encoding as a fraction of the three stages' time."""
        total = self.network_s + self.decode_s + self.encode_s
        return (self.decode_s + self.encode_s) / total if total else 0.0


def stylize_video(source: str | os.PathLike, target: str | os.PathLike, stream: FrameStream, *,
                  batch_size: int = 1, crf: int | None = None, overwrite: bool = False,
                  progress: Callable[[int, int], None] | None = None,
                  started: Callable[[VideoInfo], None] | None = None) -> VideoReport:
    """Stylize the video `source` into `target` (format from its suffix), streaming: at most one batch
    of `batch_size` decoded frames, their outputs and the network's activations for it are alive at
    once (plus FFmpeg's fixed buffers, see files/video.py). Audio is copied unchanged.

    The output appears under `target` only when the whole clip is written; on any error or Ctrl-C
    nothing is left, not even the temporary file. The first batch is decoded before anything is
    created, so a clip without frames writes nothing. progress(done, expected) after each batch
    (expected: the declared frame count, 0 when unknown); started(info) once the clip is open.
    """
    target = Path(target)
    meter = FlickerMeter()
    network_s = decode_s = encode_s = 0.0
    with VideoReader(source) as reader:
        if started:
            started(reader.info)
        batches = reader.batches(batch_size)
        clock = time.perf_counter()
        first = next(batches)  # a zero-length or undecodable clip fails here, before any file exists
        decode_s += time.perf_counter() - clock
        with writing(target, overwrite=overwrite) as tmp:
            writer = VideoWriter(tmp, target.suffix, reader.info, crf=crf, audio_from=reader.audio, name=target)
            try:
                batch: Tensor | None = first
                while batch is not None:
                    clock = time.perf_counter()
                    out = stream(batch)
                    network_s += time.perf_counter() - clock
                    meter.add(batch, out)
                    clock = time.perf_counter()
                    writer.write(out)
                    writer.copy_audio(reader.audio_packets)
                    encode_s += time.perf_counter() - clock
                    if progress:
                        progress(writer.frames, reader.info.expected_frames)
                    clock = time.perf_counter()
                    batch = next(batches, None)
                    decode_s += time.perf_counter() - clock
                clock = time.perf_counter()
                writer.copy_audio(reader.audio_packets)
                writer.finish()
                encode_s += time.perf_counter() - clock
            except BaseException:
                writer.abort()
                raise
    return VideoReport(writer.frames, reader.info, network_s, decode_s, encode_s, meter.flicker,
                       meter.input_change, meter.output_change)
