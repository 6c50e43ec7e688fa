"""Video files through PyAV (FFmpeg's libraries, shipped in its wheels): probe, streaming decode to
frame tensors, streaming encode, audio packets copied unchanged, and the one atomic way a video is
written (a temporary name in the output folder, renamed by `files.atomic.commit` at the end).

Memory is bounded by one batch, whatever the clip's length: the reader decodes one packet at a time
and yields `batch` frames as a (B, 3, H, W) tensor; the writer encodes them as they come. FFmpeg adds
its own fixed buffers: x264's lookahead (rc-lookahead 40 + B-frames + frame threads: under ~60
frames of 1.5·W·H bytes in yuv420p) and the muxer's interleaving queue (the audio packets of that
delay). Audio packets wait only until the next batch is written.

Encoding: H.264 (libx264, CRF 18, yuv420p: every player opens it) for .mp4, .mov, .mkv and .avi, VP9
(CRF 31) for .webm, GIF for .gif. yuv420p needs even sides: an odd width or height is padded by
repeating the last column or row (a warning says so), so no stylized pixel is lost. Frames come out
at a constant rate, the input's average rate, one output frame per decoded frame.

PyAV is the `video` extra: without it, opening a video is a one-line VideoError with the install
command, and the rest of the tool works as before.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from stylexfer.errors import StylexferError, display_path, one_line
from stylexfer.files.atomic import commit, exists_error, temporary_path
from stylexfer.files.userfile import check_regular_file, file_problem

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif")
INSTALL_HINT = "video files need PyAV: pip install 'stylexfer[video]'"
# suffix -> (FFmpeg muxer, video encoder, pixel format, default CRF, CRF range)
_OUTPUTS: dict[str, tuple[str, str, str, int | None, tuple[int, int] | None]] = {
    ".mp4": ("mp4", "libx264", "yuv420p", 18, (0, 51)),
    ".mov": ("mov", "libx264", "yuv420p", 18, (0, 51)),
    ".mkv": ("matroska", "libx264", "yuv420p", 18, (0, 51)),
    ".avi": ("avi", "libx264", "yuv420p", 18, (0, 51)),
    ".webm": ("webm", "libvpx-vp9", "yuv420p", 31, (0, 63)),
    ".gif": ("gif", "gif", "rgb8", None, None),
}
# Audio codecs each container can hold unchanged (None: any); others are dropped with a warning.
_AUDIO_OK: dict[str, frozenset[str] | None] = {
    ".mp4": frozenset({"aac", "mp3", "alac", "opus", "ac3", "eac3", "flac"}),
    ".mov": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_f32le"}),
    ".mkv": None,
    ".avi": frozenset({"mp3", "mp2", "ac3", "aac", "pcm_s16le"}),
    ".webm": frozenset({"opus", "vorbis"}),
    ".gif": frozenset(),
}
_X264_OPTIONS = {"preset": "medium"}
_VP9_OPTIONS = {"b:v": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"}


class VideoError(StylexferError, ValueError):
    """A video that cannot be used: corrupt, truncated, no video stream, unknown codec, no frames."""


def require_av() -> Any:
    """The `av` module, FFmpeg's log lines silenced (they would break the one-line rule)."""
    try:
        import av
        import av.logging
    except ImportError:
        raise VideoError(INSTALL_HINT) from None
    av.logging.set_level(None)
    return av


def is_video_file(path: str | os.PathLike) -> bool:
    """A video suffix; a .gif only when it holds more than one frame (one frame is an image)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        return False
    if suffix != ".gif":
        return True
    if file_problem(path) is not None:  # a FIFO named .gif: the image loader refuses it in one line
        return False
    try:
        from PIL import Image

        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1)) > 1
    except Exception:  # an unreadable gif goes the image way and gets the image loader's message
        return False


def output_suffixes() -> tuple[str, ...]:
    return tuple(_OUTPUTS)


@dataclass(frozen=True)
class VideoInfo:
    """What a clip declares: frame size, average rate, frame count (0: not declared), duration in
    seconds (None: not declared), video codec, audio codec (None: no audio)."""

    width: int
    height: int
    rate: Fraction
    frames: int
    duration: float | None
    codec: str
    audio: str | None

    @property
    def expected_frames(self) -> int:
        """The declared count, else duration × rate (0 when neither is known): the progress total."""
        if self.frames:
            return self.frames
        return round(self.duration * self.rate) if self.duration else 0


def _reason(err: BaseException) -> str:
    """FFmpeg's message without the file name PyAV appends."""
    text = re.sub(r"^\[Errno -?\d+\] ", "", one_line(err))
    name = getattr(err, "filename", None)
    return text.replace(f": {name!r}", "").replace(f": '{name}'", "") if name else text


class VideoReader:
    """Open a clip for streaming decode: `with VideoReader(p) as r: for batch in r.batches(4): ...`.

    Opening checks what can be checked up front (a readable container, a video stream, a codec this
    FFmpeg decodes); decoding raises VideoError for a corrupt or truncated stream, and for a clip
    without frames. Demuxed audio packets collect in `audio_packets` for a writer to copy.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        av = require_av()
        self.path = Path(path)
        shown = display_path(self.path)
        size = check_regular_file(self.path, VideoError).st_size
        if size == 0:
            raise VideoError(f"{shown}: the file is empty (0 bytes); give a complete video")
        if self.path.suffix.lower() == ".gif":
            with open(self.path, "rb") as handle:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b";":  # a GIF ends with its trailer byte: no trailer, truncated
                    raise VideoError(f"{shown}: the GIF is truncated (no end marker); give a complete file")
        try:
            self.container = av.open(str(self.path), "r")
        except Exception as err:  # FFmpeg reports corrupt and truncated files as several error types
            raise VideoError(f"{shown}: not a readable video ({_reason(err)}); the file is corrupt, "
                             "truncated or not a video") from None
        try:
            self._check(shown)
        except BaseException:
            self.container.close()
            raise
        self.audio_packets: list[Any] = []
        self.decoded = 0

    def _check(self, shown: str) -> None:
        streams = self.container.streams
        if not streams.video:
            kinds = "audio only" if streams.audio else "no audio or video"
            raise VideoError(f"{shown}: holds no video stream ({kinds}); give a video file")
        self.stream = streams.video[0]
        ctx = self.stream.codec_context
        if ctx is None or not ctx.name or not ctx.width or not ctx.height:
            raise VideoError(f"{shown}: its video codec is unknown to or not supported by this FFmpeg build; "
                             "convert it to H.264 first (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)")
        self.stream.thread_type = "AUTO"
        self.audio = streams.audio[0] if streams.audio else None
        rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        # The video's own duration; the container's only when nothing else (audio) can make it longer.
        if self.stream.duration and self.stream.time_base:
            duration: float | None = float(self.stream.duration * self.stream.time_base)
        elif self.container.duration and len(streams) == 1:
            duration = self.container.duration / 1_000_000
        else:
            duration = None
        self.info = VideoInfo(ctx.width, ctx.height, Fraction(rate), int(self.stream.frames or 0), duration,
                              ctx.name, self.audio.codec_context.name if self.audio is not None else None)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order as an (H, W, 3) uint8 RGB array, one packet decoded at a time."""
        shown = display_path(self.path)
        streams = [self.stream] + ([self.audio] if self.audio is not None else [])
        first = last = None  # the earliest and latest presentation times seen (seconds)
        try:
            for packet in self.container.demux(*streams):
                if packet.stream is self.audio:
                    if packet.size and packet.dts is not None:
                        self.audio_packets.append(packet)
                    continue
                for frame in packet.decode():
                    self.decoded += 1
                    if frame.time is not None:
                        first = frame.time if first is None else min(first, frame.time)
                        last = frame.time if last is None else max(last, frame.time)
                    yield frame.to_ndarray(format="rgb24")
        except VideoError:
            raise
        except Exception as err:
            raise VideoError(f"{shown}: decoding failed after {self.decoded} frame(s) ({_reason(err)}); "
                             "the file is corrupt or truncated") from None
        if self.decoded == 0:
            raise VideoError(f"{shown}: holds no frames (a zero-length clip)")
        self._check_complete(shown, None if first is None or last is None else last - first)

    def _check_complete(self, shown: str, span: float | None) -> None:
        """VideoError when the decoded frames fall well short of what the clip declares: its frame
        count, else its duration. Against a duration, the frames' own timestamps are compared (a
        variable-frame-rate clip has fewer frames than duration × average rate, yet is complete).
        span: seconds from the first frame's timestamp to the last's (None without timestamps)."""
        info = self.info
        frame_time = 1 / float(info.rate) if info.rate else 0.0
        if not info.frames and info.duration and span is not None:
            covered = span + frame_time  # the last frame lasts about one frame time
            if covered < 0.9 * info.duration - frame_time:
                raise VideoError(f"{shown}: its frames cover only {covered:.2f} s of {info.duration:.2f} s; "
                                 "the file is truncated or damaged")
            return
        expected = info.expected_frames
        if expected and self.decoded < 0.9 * expected - 1:  # declared counts are estimates in some formats
            raise VideoError(f"{shown}: only {self.decoded} of about {expected} frames decode; the file is "
                             "truncated or damaged")

    def batches(self, size: int) -> Iterator[Tensor]:
        """Frames as (≤ size, 3, H, W) float32 tensors in [0, 1]; one batch alive at a time."""
        pending: list[Tensor] = []
        for array in self.frames():
            pending.append(torch.from_numpy(array).permute(2, 0, 1))
            if len(pending) == size:
                yield torch.stack(pending).float().div_(255)
                pending = []
        if pending:
            yield torch.stack(pending).float().div_(255)


def check_crf(crf: int | None, suffix: str) -> int | None:
    """The CRF for an output suffix (None: the codec's default; GIF has none)."""
    suffix = suffix.lower()
    _, codec, _, default, span = _OUTPUTS[suffix]
    if crf is None:
        return default
    if span is None:
        raise VideoError(f"{{crf}} does not apply to {suffix} output (GIF has no quality setting)", "crf")
    if not span[0] <= crf <= span[1]:
        raise VideoError(f"{{crf}} {crf} is out of range for {codec} ({suffix}): use {span[0]}..{span[1]} "
                         "(lower is better quality; 18 is near lossless for H.264)", "crf")
    return crf


class VideoWriter:
    """Encode frames to `path` in the format of `suffix` at `info.rate`, copying the audio of
    `audio_from` (a reader's audio stream) when the container can hold it unchanged."""

    def __init__(self, path: str | os.PathLike, suffix: str, info: VideoInfo, *, crf: int | None = None,
                 audio_from: Any | None = None, name: str | os.PathLike | None = None) -> None:
        av = require_av()
        suffix = suffix.lower()
        shown = display_path(name or path)
        if suffix not in _OUTPUTS:
            raise VideoError(f"{shown}: unknown video format {suffix!r}; use one of {', '.join(_OUTPUTS)}")
        muxer, codec, pix_fmt, _, _ = _OUTPUTS[suffix]
        crf = check_crf(crf, suffix)
        self.pad = (info.width % 2, info.height % 2) if pix_fmt == "yuv420p" else (0, 0)
        if self.pad != (0, 0):
            warnings.warn(f"{shown}: {info.width}×{info.height} frames padded to {info.width + self.pad[0]}×"
                          f"{info.height + self.pad[1]} (H.264/VP9 in yuv420p need even sides; the last "
                          "column/row is repeated)", stacklevel=2)
        options = {"movflags": "+faststart"} if muxer in ("mp4", "mov") else {}
        self.container = av.open(str(path), "w", format=muxer, options=options)
        try:
            self.stream = self.container.add_stream(codec, rate=info.rate)
            self.stream.width, self.stream.height = info.width + self.pad[0], info.height + self.pad[1]
            self.stream.pix_fmt = pix_fmt
            if crf is not None:
                extra = _VP9_OPTIONS if codec == "libvpx-vp9" else _X264_OPTIONS
                self.stream.options = {"crf": str(crf), **extra}
            self.audio = None
            if audio_from is not None:
                audio_codec = audio_from.codec_context.name
                allowed = _AUDIO_OK[suffix]
                if allowed is None or audio_codec in allowed:
                    self.audio = self.container.add_stream_from_template(audio_from)
                else:
                    warnings.warn(f"{shown}: the audio ({audio_codec}) is not copied: {suffix} cannot hold it "
                                  "unchanged; use .mkv (or the input's container) to keep it", stacklevel=2)
        except BaseException:
            self.container.close()
            raise
        self.time_base = Fraction(1) / Fraction(info.rate)
        self.frames = 0

    def write(self, frames: Tensor) -> None:
        """(B, 3, H, W) in [0, 1] (or uint8), the next frames of the clip."""
        av = require_av()
        if frames.is_floating_point():
            frames = frames.clamp(0, 1).mul(255).round_().to(torch.uint8)
        arrays = frames.permute(0, 2, 3, 1).contiguous().numpy()
        if self.pad != (0, 0):
            arrays = np.pad(arrays, ((0, 0), (0, self.pad[1]), (0, self.pad[0]), (0, 0)), mode="edge")
        for array in arrays:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = self.frames, self.time_base
            self.frames += 1
            for packet in self.stream.encode(frame):
                self.container.mux(packet)

    def copy_audio(self, packets: list[Any]) -> None:
        """Mux demuxed audio packets unchanged (timestamps rescaled by PyAV), emptying the list."""
        if self.audio is not None:
            for packet in packets:
                packet.stream = self.audio
                self.container.mux(packet)
        packets.clear()

    def finish(self) -> None:
        """Flush the encoder and write the container's index."""
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()


@contextlib.contextmanager
def writing(target: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target` to write the video to; when the block ends without an
    exception it is committed under `target` (files.atomic.commit: fsync, rename or no-replace link),
    otherwise (an error, Ctrl-C) deleted, so the final name never holds a half-written video. Missing
    folders above `target` are created, and removed again (when still empty) if the block fails."""
    target = Path(target)
    created = [p for p in reversed(target.parents) if not p.exists()]  # outermost first
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(target)
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        for folder in reversed(created):  # the folders made for this video, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    try:
        commit(tmp, target, overwrite=overwrite)
    except FileExistsError:
        raise exists_error(VideoError, target) from None
