"""GlebSBrykin/SANET restated from its formulas, module for module, as the baseline the SANet cases are
timed against (benchmarks/sanet.py) and the oracle tests/families/test_sanet.py compares the family with.

- `RefSANet`, `RefTransform`: `Eval.py`'s modules, with its parameter names (`sanet4_1.f`, …,
  `merge_conv`) and its parameter-free `merge_conv_pad` / `upsample5_1`, so their state_dict() is the
  layout of `transformer_iter_500000.pth`. The attention matrix S = softmax(FᵀG) is materialised whole,
  as there: (H·W/64) × (H'·W'/64) floats per module.
- The encoder and decoder are pytorch-AdaIN's `vgg` / `decoder` Sequentials (tests/reference_nets.py),
  the same layouts SANET's `vgg_normalised.pth` and `decoder_iter_500000.pth` have.
- `reference_stylize`: `Eval.py`'s loop body (one step); `reference_losses`: `Train.ipynb`'s
  `Net.forward`, returning its four raw terms. Statistics use the unbiased variance, as there.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from reference_nets import orig_adain_pair

# The reference's encoder slices (indices into the vgg Sequential): input -> relu1_1 -> … -> relu5_1.
ENCODER_SLICES = ((0, 4), (4, 11), (11, 18), (18, 31), (31, 44))


def ref_mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-channel mean and sqrt(unbiased variance + eps), each (N, C, 1, 1)."""
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    return flat.mean(dim=2).reshape(n, c, 1, 1), (flat.var(dim=2) + eps).sqrt().reshape(n, c, 1, 1)


def ref_mvn(feat: Tensor) -> Tensor:
    mean, std = ref_mean_std(feat)
    return (feat - mean) / std


class RefSANet(nn.Module):
    def __init__(self, planes: int = 512) -> None:
        super().__init__()
        self.f = nn.Conv2d(planes, planes, (1, 1))
        self.g = nn.Conv2d(planes, planes, (1, 1))
        self.h = nn.Conv2d(planes, planes, (1, 1))
        self.sm = nn.Softmax(dim=-1)
        self.out_conv = nn.Conv2d(planes, planes, (1, 1))

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        b, c, hc, wc = content.shape
        queries = self.f(ref_mvn(content)).reshape(b, c, -1).permute(0, 2, 1)  # (B, Nc, C)
        keys = self.g(ref_mvn(style))
        keys = keys.reshape(keys.shape[0], c, -1)  # (B, C, Ns)
        values = self.h(style)
        values = values.reshape(values.shape[0], c, -1)  # (B, C, Ns)
        attention = self.sm(torch.bmm(queries, keys))  # (B, Nc, Ns): the whole matrix
        out = torch.bmm(values, attention.permute(0, 2, 1)).reshape(b, c, hc, wc)
        return self.out_conv(out) + content


class RefTransform(nn.Module):
    def __init__(self, planes: int = 512) -> None:
        super().__init__()
        self.sanet4_1 = RefSANet(planes)
        self.sanet5_1 = RefSANet(planes)
        self.upsample5_1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.merge_conv_pad = nn.ReflectionPad2d((1, 1, 1, 1))
        self.merge_conv = nn.Conv2d(planes, planes, (3, 3))

    def forward(self, content4_1: Tensor, style4_1: Tensor, content5_1: Tensor, style5_1: Tensor) -> Tensor:
        # fails when relu4_1 has an odd side: the upsampled relu5_1 branch is one row/column larger
        merged = self.sanet4_1(content4_1, style4_1) + self.upsample5_1(self.sanet5_1(content5_1, style5_1))
        return self.merge_conv(self.merge_conv_pad(merged))


def reference_release(seed: int = 0) -> tuple[nn.Sequential, nn.Sequential, RefTransform]:
    """(vgg, decoder, transform) with random weights that keep the signal alive (O(1) features)."""
    vgg, decoder = orig_adain_pair(seed)
    torch.manual_seed(seed + 1)
    transform = RefTransform().eval()
    with torch.no_grad():
        for module in transform.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=(1.0 / module.weight[0].numel()) ** 0.5)
                module.bias.uniform_(-0.05, 0.05)
        for sanet in (transform.sanet4_1, transform.sanet5_1):
            sanet.f.weight.mul_(0.3)  # softmax logits of a few units: a spread-out, not one-hot, attention
            sanet.g.weight.mul_(0.3)
    return vgg, decoder, transform


def encode_with_intermediate(vgg: nn.Sequential, images: Tensor) -> list[Tensor]:
    """relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (the reference's enc_1 … enc_5 in turn)."""
    out, x = [], images
    for start, stop in ENCODER_SLICES:
        x = vgg[start:stop](x)
        out.append(x)
    return out


def reference_stylize(vgg: nn.Sequential, decoder: nn.Sequential, transform: RefTransform, content: Tensor,
                      style: Tensor) -> Tensor:
    """Eval.py: relu4_1 and relu5_1 of both images, the transform, the decoder (its full, uncropped output)."""
    content4_1 = vgg[:31](content)
    content5_1 = vgg[31:44](content4_1)
    style4_1 = vgg[:31](style)
    style5_1 = vgg[31:44](style4_1)
    return decoder(transform(content4_1, style4_1, content5_1, style5_1))


def reference_losses(vgg: nn.Sequential, decoder: nn.Sequential, transform: RefTransform, content: Tensor,
                     style: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Train.ipynb's Net.forward: (loss_c, loss_s, l_identity1, l_identity2), unweighted."""
    mse = nn.functional.mse_loss
    style_feats = encode_with_intermediate(vgg, style)
    content_feats = encode_with_intermediate(vgg, content)
    g_t = decoder(transform(content_feats[3], style_feats[3], content_feats[4], style_feats[4]))
    g_t_feats = encode_with_intermediate(vgg, g_t)
    loss_c = sum(mse(ref_mvn(g_t_feats[i]), ref_mvn(content_feats[i])) for i in (3, 4))
    loss_s = 0.0
    for out, target in zip(g_t_feats, style_feats, strict=True):
        (out_mean, out_std), (target_mean, target_std) = ref_mean_std(out), ref_mean_std(target)
        loss_s = loss_s + mse(out_mean, target_mean) + mse(out_std, target_std)
    icc = decoder(transform(content_feats[3], content_feats[3], content_feats[4], content_feats[4]))
    iss = decoder(transform(style_feats[3], style_feats[3], style_feats[4], style_feats[4]))
    l_identity1 = mse(icc, content) + mse(iss, style)
    fcc, fss = encode_with_intermediate(vgg, icc), encode_with_intermediate(vgg, iss)
    l_identity2 = sum(mse(fcc[i], content_feats[i]) + mse(fss[i], style_feats[i]) for i in range(5))
    return loss_c, loss_s, l_identity1, l_identity2  # type: ignore[return-value]
