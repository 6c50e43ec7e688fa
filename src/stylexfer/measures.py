"""Measures of one stylized picture against its content and its style that do not depend on the
loss weights a model was trained with, so models from different λ (and of different kinds) compare.

All feature measures use one frozen VGG-19 (torchvision layout, zero padding, ImageNet
normalisation) built from fixed weights: ImageNet when they are in torch's cache, otherwise random
weights from a fixed seed (then the numbers only check the pipeline, and the output says so).

content_relu4_1   mean squared relu4_1 difference to the content (AdaIN's content measure, against E(c))
content_relu2_2   mean squared relu2_2 difference to the content (Johnson's content layer)
ssim_luma         SSIM of the luminance (Y of YIQ) to the content's, 1 = identical (torchmetrics)
style_gram_sum    Σ over relu1_1…relu4_1 of ‖G(o) − G(s)‖²_F, Gram/(C·H·W) (the seed's reduction)
style_gram_mean   the same with the mean over the C×C entries (pytorch/examples' reduction)
style_mean_std    Σ over relu1_1…relu4_1 of MSE(μ) + MSE(σ) (AdaIN's style loss, biased σ)
colour_hist       total-variation distance between 8×8×8-bin RGB histograms, 0 (same) … 1 (disjoint)
lpips             LPIPS (AlexNet) to the content, when its pretrained weights are cached locally
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from stylexfer.errors import one_line
from stylexfer.functional import gram_matrix
from stylexfer.losses import gram_style_loss, mean_std_loss
from stylexfer.nets.vgg import RandomWeightsWarning, VGGFeatures, imagenet_weights_file

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_MEASURES = ("content_relu4_1", "content_relu2_2", "ssim_luma")
STYLE_MEASURES = ("style_gram_sum", "style_gram_mean", "style_mean_std", "colour_hist")
MEASURES = (*CONTENT_MEASURES, *STYLE_MEASURES)
# The content and style distances a sweep trades off: the report's trade-off plot and the Optuna
# searches' two objectives. Both model kinds are measured on them (AdaIN's own content layer, AdaIN's
# style loss), so jobs of either kind land on one plot.
OBJECTIVES = ("content_relu4_1", "style_mean_std")
RANDOM_SEED = 0  # the random VGG is the same in every process, so runs of a sweep compare
LPIPS_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet, LPIPS' backbone


class Judge:
    """Computes MEASURES (and LPIPS when available) for pictures in [0, 1]; one instance per process."""

    def __init__(self, vgg_weights: str = "auto", device: str | torch.device = "cpu") -> None:
        if vgg_weights == "auto":  # ImageNet when the VGG-19 file is cached, else random (never a download)
            vgg_weights = "imagenet" if imagenet_weights_file("vgg19").is_file() else "random"
        self.vgg_weights = vgg_weights
        self.device = torch.device(device)
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            torch.manual_seed(RANDOM_SEED)
            warnings.simplefilter("ignore", RandomWeightsWarning)  # stated in the output instead
            self.vgg = VGGFeatures("vgg19", (*STYLE_LAYERS, "relu2_2"), weights=self.vgg_weights)
        self.vgg.to(self.device)
        self.lpips, self.lpips_skipped = _lpips(self.device)

    @property
    def random_vgg(self) -> bool:
        return self.vgg_weights == "random"

    @torch.inference_mode()
    def measure(self, output: Tensor, content: Tensor, style: Tensor | None) -> dict[str, float]:
        """output, content: (1, 3, H, W); style: (1, 3, H', W') or None (then no style measures)."""
        output, content = output.to(self.device).float(), content.to(self.device).float()
        fo, fc = self.vgg(output), self.vgg(content)
        result = {
            "content_relu4_1": F.mse_loss(fo["relu4_1"], fc["relu4_1"]).item(),
            "content_relu2_2": F.mse_loss(fo["relu2_2"], fc["relu2_2"]).item(),
            "ssim_luma": ssim_luma(output, content),
        }
        if style is not None:
            fs = self.vgg(style.to(self.device).float())
            grams = {name: gram_matrix(fs[name]) for name in STYLE_LAYERS}
            result |= {
                "style_gram_sum": sum(gram_style_loss(fo[n], grams[n], "sum").item() for n in STYLE_LAYERS),
                "style_gram_mean": sum(gram_style_loss(fo[n], grams[n], "mean").item() for n in STYLE_LAYERS),
                "style_mean_std": sum(mean_std_loss(fo[n], fs[n]).item() for n in STYLE_LAYERS),
                "colour_hist": colour_histogram_distance(output, style),
            }
        if self.lpips is not None:
            result["lpips"] = float(self.lpips(output * 2 - 1, content * 2 - 1).item())  # type: ignore[operator]
        return result


def mean_measures(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The mean over pairs of every measure that all `rows` have (a Johnson model without its style
    image has no style measures)."""
    keys = [k for k in (*MEASURES, "lpips") if all(k in row for row in rows)]
    return {k: sum(row[k] for row in rows) / len(rows) for k in keys} if rows else {}


def luminance(images: Tensor) -> Tensor:
    """(B, 3, H, W) RGB -> (B, 1, H, W) Y = 0.299 R + 0.587 G + 0.114 B."""
    weights = images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def ssim_luma(output: Tensor, content: Tensor) -> float:
    from torchmetrics.functional.image import structural_similarity_index_measure

    a, b = luminance(output.clamp(0, 1)), luminance(content.clamp(0, 1))
    kernel = min(11, *(s - (s + 1) % 2 for s in a.shape[-2:]))  # odd, and no larger than the picture
    value = structural_similarity_index_measure(a, b, data_range=1.0, kernel_size=max(kernel, 3))
    return float(value[0] if isinstance(value, tuple) else value)


def colour_histogram_distance(a: Tensor, b: Tensor, bins: int = 8) -> float:
    """½ Σ |p − q| over joint RGB histograms of two pictures (any sizes), in [0, 1]."""

    def histogram(images: Tensor) -> Tensor:
        q = (images.clamp(0, 1) * bins).long().clamp(max=bins - 1).flatten(2)  # (B, 3, N)
        index = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
        counts = torch.bincount(index.flatten(), minlength=bins**3).float()
        return counts / counts.sum()

    return float((histogram(a) - histogram(b)).abs().sum() / 2)


def _lpips(device: torch.device) -> tuple[object | None, str | None]:
    """(metric, None) when LPIPS can run without a download, else (None, why it is skipped)."""
    backbone = Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_FILE
    if not backbone.is_file():
        return None, f"skipped: LPIPS needs the pretrained AlexNet weights {backbone}, not present (no downloads)"
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        with contextlib.redirect_stdout(io.StringIO()):  # its download notices
            metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=False).to(device)
        return metric, None
    except Exception as err:  # a missing optional package, unreadable weights
        return None, f"skipped: LPIPS could not be built ({one_line(err)})"
