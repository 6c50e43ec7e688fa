"""The one inference API behind the CLI, the GUI and Python users.

```python
from stylexfer.inference import load_model

stylizer = load_model("model.safetensors", device="auto")       # or a training .ckpt, or mosaic.pth
codes = stylizer.encode_styles(["starry-night.jpg"])             # a style-taking model: encode once ...
out = stylizer.stylize("photo.jpg", codes, alpha=0.8)           # ... reuse them; (1, 3, H, W) in [0, 1]
```

What happens inside is the model family's runner (stylexfer/families/NAME/runner.py, found through
stylexfer.registry): whether it takes a style, how styles are encoded once and mixed, what α and a mask
mean, how it tiles. This package adds, for every family: the request's rules, checked once (request.py);
preserve_color, a luminance-only transfer that keeps each style encoded once per run (colour.py);
tiling of large images in overlapping windows, each runner keeping its normalisation statistics
whole-image so no tile differs in colour (tiling.py); the device and autocast policy (device.py); a
clip's frames in order, statistics smoothed across frames (video.py, temporal.py).

Runs under ``torch.inference_mode``; on CUDA with channels_last and bf16 (or fp16) autocast.
``load_model(..., precision="fp32" | "bf16" | "auto")``: on the CPU fp32 by default; bf16 stores the
convolution weights in bf16 and keeps the pixel layers and all statistics fp32 (device.py).
Outputs are float32 on the CPU, clamped to [0, 1].
"""

from stylexfer.inference.colour import preserve_content_color
from stylexfer.inference.device import DevicePolicy, pick_device
from stylexfer.inference.inputs import ImageLike, as_image_tensor, mask_labels, resize_image, resized_size
from stylexfer.inference.request import (
    DEFAULT_STYLE_SIZE,
    RequestError,
    StyleKindError,
    StylizeRequest,
)
from stylexfer.inference.stylizer import Stylizer, load_model, open_model
from stylexfer.inference.temporal import StatisticsSmoother, check_smooth
from stylexfer.inference.tiling import (
    AUTO_TILE_PIXELS,
    DEFAULT_TILE_OVERLAP,
    DEFAULT_TILE_SIZE,
    Progress,
    TilePolicy,
    tile_spans,
)
from stylexfer.inference.video import FlickerMeter, FrameStream, VideoReport, stylize_video

__all__ = [
    "AUTO_TILE_PIXELS",
    "DEFAULT_STYLE_SIZE",
    "DEFAULT_TILE_OVERLAP",
    "DEFAULT_TILE_SIZE",
    "DevicePolicy",
    "FlickerMeter",
    "FrameStream",
    "VideoReport",
    "ImageLike",
    "Progress",
    "RequestError",
    "StatisticsSmoother",
    "StyleKindError",
    "StylizeRequest",
    "Stylizer",
    "TilePolicy",
    "as_image_tensor",
    "check_smooth",
    "load_model",
    "open_model",
    "mask_labels",
    "pick_device",
    "preserve_content_color",
    "resize_image",
    "resized_size",
    "stylize_video",
    "tile_spans",
]
