"""Device and precision policy: where the networks run and under which autocast."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from stylexfer.inference.request import RequestError, literal


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" -> CUDA when available, else CPU; "cuda" without a GPU is a RequestError."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RequestError(f"{{device}} {literal(name)!r}: no CUDA GPU is available here; use cpu or auto",
                           "device")
    if name != "cpu" and not name.startswith("cuda"):
        raise RequestError(f"unknown {{device}} {literal(name)!r}; use auto, cpu or cuda", "device")
    return torch.device(name)


class DevicePolicy:
    """CPU: fp32, the nets' own memory format. CUDA: channels_last and bf16 (or fp16) autocast."""

    def __init__(self, device: str | torch.device = "auto") -> None:
        self.device = pick_device(device)
        on_cuda = self.device.type == "cuda"
        self.channels_last = on_cuda
        self.amp_dtype = (
            (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if on_cuda else None
        )

    def prepare(self, net: nn.Module) -> nn.Module:
        """The net frozen, in eval mode, on the device (channels_last on CUDA)."""
        net = net.eval().requires_grad_(False).to(self.device)
        return net.to(memory_format=torch.channels_last) if self.channels_last else net

    def context(self) -> contextlib.ExitStack:
        """inference_mode, plus autocast on CUDA."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.amp_dtype is not None:
            stack.enter_context(torch.autocast("cuda", dtype=self.amp_dtype))
        return stack

    def to_device(self, images: Tensor) -> Tensor:
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images
