"""The one inference API behind the CLI, the GUI and Python users.

```python
from stylexfer.inference import load_model

stylizer = load_model("model.safetensors", device="auto")       # or a training .ckpt, or mosaic.pth
codes = stylizer.encode_styles(["starry-night.jpg"])             # AdaIN: encode styles once ...
out = stylizer.stylize("photo.jpg", codes, alpha=0.8)           # ... reuse them; (1, 3, H, W) in [0, 1]
```

What happens inside (Huang & Belongie 2017 §7; Johnson et al. 2016):

- AdaIN: t = AdaIN(E(c), s) per mask region, output = D(α·t + (1−α)·E(c)). Several styles without a mask
  are interpolated by mixing their StyleCodes with weights normalised to sum 1.
- Johnson: the style is in the weights; α blends pixels: α·net(c) + (1−α)·c.
- preserve_color: luminance-only transfer (Gatys et al. 2016, "Preserving color in neural artistic
  style transfer"): the output's luminance Y (YIQ), matched to the content's luminance mean and
  standard deviation, is combined with the content's chroma I, Q. Works for both kinds and keeps
  the style encodable once per run (the paper's colour-histogram matching would need a new style
  code for every content image).
- Tiling (large images): overlapping windows, blended with linear ramps in the middle of the
  overlap. AdaIN uses whole-image relu4_1 statistics gathered over all tiles in a first pass
  (exact for the interior of each tile); Johnson's instance norms use statistics measured once
  on a downscaled copy of the whole image, so every tile is normalised alike and no tile differs in colour.

Modules: request.py (StylizeRequest: every option rule, checked once; messages name fields, never
flags), stylizer.py (the façade), adain.py and johnson.py (one runner per model kind), device.py
(device and autocast policy), tiling.py (when and how to tile), inputs.py (tensors, the one
shorter-side resize, masks, padding of images smaller than a network's minimum), colour.py,
temporal.py (statistics smoothed across video frames) and video.py (FrameStream: a clip's frames in
order, styles encoded once; FlickerMeter).

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
    OptionError,
    RequestError,
    StyleKindError,
    StylizeRequest,
)
from stylexfer.inference.stylizer import Stylizer, load_model
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
    "OptionError",
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
    "mask_labels",
    "pick_device",
    "preserve_content_color",
    "resize_image",
    "resized_size",
    "stylize_video",
    "tile_spans",
]
