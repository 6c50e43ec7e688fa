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

Runs under ``torch.inference_mode``; on CUDA with channels_last and bf16 (or fp16) autocast.
Outputs are float32 on the CPU, clamped to [0, 1].
"""

from stylexfer.inference.colour import preserve_content_color
from stylexfer.inference.stylizer import (
    AUTO_TILE_PIXELS,
    DEFAULT_STYLE_SIZE,
    DEFAULT_TILE_OVERLAP,
    DEFAULT_TILE_SIZE,
    ImageLike,
    OptionError,
    Progress,
    Stylizer,
    as_image_tensor,
    load_model,
    mask_labels,
    pick_device,
    resize_image,
)
from stylexfer.inference.tiling import tile_spans

__all__ = [
    "AUTO_TILE_PIXELS",
    "DEFAULT_STYLE_SIZE",
    "DEFAULT_TILE_OVERLAP",
    "DEFAULT_TILE_SIZE",
    "ImageLike",
    "OptionError",
    "Progress",
    "Stylizer",
    "as_image_tensor",
    "load_model",
    "mask_labels",
    "pick_device",
    "preserve_content_color",
    "resize_image",
    "tile_spans",
]
