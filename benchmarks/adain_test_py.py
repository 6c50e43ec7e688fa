"""pytorch-AdaIN's test.py (naoto0804/pytorch-AdaIN) as one file, for the start-up comparison:
the same imports (torch, torchvision transforms and save_image, PIL), its net.py's two Sequentials,
its function.py's AdaIN, the same load/resize/stylize/save steps, one content and one style.

    python benchmarks/adain_test_py.py --content c.jpg --style s.png --vgg vgg.pth --decoder dec.pth --output out.jpg

Run as a script in a fresh process (it imports nothing from stylexfer), as the original is.
"""

import argparse
from pathlib import Path

import torch
import torch.nn as nn
from PIL import Image
from torchvision import transforms
from torchvision.utils import save_image


def _block(cin, cout, relu=True):
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3))] + ([nn.ReLU()] if relu else [])


decoder = nn.Sequential(  # net.py's decoder
    *_block(512, 256), nn.Upsample(scale_factor=2, mode="nearest"),
    *_block(256, 256), *_block(256, 256), *_block(256, 256), *_block(256, 128),
    nn.Upsample(scale_factor=2, mode="nearest"),
    *_block(128, 128), *_block(128, 64), nn.Upsample(scale_factor=2, mode="nearest"),
    *_block(64, 64), *_block(64, 3, relu=False),
)
_vgg = [nn.Conv2d(3, 3, (1, 1))]  # net.py's vgg (vgg_normalised), to relu5_4
_cin = 3
for _i, (_cout, _count) in enumerate([(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]):
    for _ in range(_count):
        _vgg += _block(_cin, _cout)
        _cin = _cout
    if _i < 4:
        _vgg.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
vgg = nn.Sequential(*_vgg)


def calc_mean_std(feat, eps=1e-5):  # function.py
    size = feat.size()
    n, c = size[:2]
    feat_var = feat.view(n, c, -1).var(dim=2) + eps
    feat_std = feat_var.sqrt().view(n, c, 1, 1)
    feat_mean = feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1)
    return feat_mean, feat_std


def adaptive_instance_normalization(content_feat, style_feat):  # function.py
    size = content_feat.size()
    style_mean, style_std = calc_mean_std(style_feat)
    content_mean, content_std = calc_mean_std(content_feat)
    normalized_feat = (content_feat - content_mean.expand(size)) / content_std.expand(size)
    return normalized_feat * style_std.expand(size) + style_mean.expand(size)


def test_transform(size, crop):
    transform_list = []
    if size != 0:
        transform_list.append(transforms.Resize(size))
    if crop:
        transform_list.append(transforms.CenterCrop(size))
    transform_list.append(transforms.ToTensor())
    return transforms.Compose(transform_list)


def style_transfer(vgg, decoder, content, style, alpha=1.0):
    content_f = vgg(content)
    style_f = vgg(style)
    feat = adaptive_instance_normalization(content_f, style_f)
    feat = feat * alpha + content_f * (1 - alpha)
    return decoder(feat)


def main():
    global vgg
    parser = argparse.ArgumentParser()
    for name in ("--content", "--style", "--vgg", "--decoder", "--output"):
        parser.add_argument(name, required=True)
    parser.add_argument("--content_size", type=int, default=512)
    parser.add_argument("--style_size", type=int, default=512)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    decoder.eval()
    vgg.eval()
    decoder.load_state_dict(torch.load(args.decoder))
    vgg.load_state_dict(torch.load(args.vgg))
    vgg = nn.Sequential(*list(vgg.children())[:31])
    vgg.to(device)
    decoder.to(device)
    content = test_transform(args.content_size, False)(Image.open(str(args.content)))
    style = test_transform(args.style_size, False)(Image.open(str(args.style)))
    style = style.to(device).unsqueeze(0)
    content = content.to(device).unsqueeze(0)
    with torch.no_grad():
        output = style_transfer(vgg, decoder, content, style)
    save_image(output.cpu(), str(Path(args.output)))


if __name__ == "__main__":
    main()
