"""Stylizing a clip frame by frame: :class:`FrameStream` (styles encoded once, statistics smoothed
across frames, see temporal.py) and :class:`FlickerMeter`, the figure that says whether it helps.

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

from collections.abc import Sequence

from torch import Tensor

from stylexfer.inference.inputs import ImageLike
from stylexfer.inference.request import StylizeRequest
from stylexfer.inference.stylizer import Stylizer
from stylexfer.inference.temporal import StatisticsSmoother
from stylexfer.nets.adain import StyleCode


class FrameStream:
    """Stylize one clip's frames in order, batch by batch, with the same request throughout.

    styles (AdaIN): images or StyleCodes, encoded once here. smooth: S of temporal.py (0 = off).
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
