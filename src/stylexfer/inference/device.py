"""Device and precision policy: where the networks run, in which precision, under which autocast.

Precision ("fp32" | "bf16" | "auto"; None = the device's default):

- CPU fp32 (the CPU default): the networks as they are.
- CPU bf16: every convolution's weights are stored in bf16 and each convolution casts its input to
  its weights' dtype (a forward pre-hook), so oneDNN runs it in bf16 with fp32 accumulation. No
  autocast: everything that is not a convolution keeps the dtype it is given, and the statistics,
  the feature transforms, colour preservation and the final clamp run in fp32 (they call ``.float()``).
  The layers that read or write the image itself stay fp32: each family names them
  (``Family.fp32_layers``: the first and last convolutions, about 1-10 % of the work).
- CUDA (default auto): channels_last and bf16 autocast, fp16 where the GPU has no bf16; fp32: no autocast.
- MPS (an Apple GPU; auto picks it after CUDA): fp32 only, no autocast. An operator MPS lacks runs on
  the CPU when PYTORCH_ENABLE_MPS_FALLBACK=1 is set (else torch stops with NotImplementedError).
- auto: bf16 where the hardware runs it natively and faster (CUDA; a CPU with AMX, or an AMD CPU with
  avx512_bf16: :func:`cpu_bf16_is_faster`), else fp32.
"""

from __future__ import annotations

import contextlib
import functools
import platform
import warnings
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from stylexfer.inference.request import RequestError, check_precision, literal


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" -> CUDA when available, else an Apple GPU (MPS) when available, else CPU; "cuda" or
    "mps" where there is none is a RequestError."""
    name = str(device)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RequestError(f"{{device}} {literal(name)!r}: no CUDA GPU is available here; use cpu or auto",
                           "device")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RequestError(f"{{device}} {literal(name)!r}: no Apple GPU (MPS) is available here; use cpu or auto",
                           "device")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise RequestError(f"unknown {{device}} {literal(name)!r}; use auto, cpu, cuda or mps", "device")
    return torch.device(name)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bf16 convolutions in hardware: avx512_bf16 or AMX.

    ``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` alone also says True on plain AVX-512 CPUs,
    where oneDNN emulates bf16 (slower than fp32), so the CPU's own bf16 flags decide as well.
    """
    try:
        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return False
    except (AttributeError, RuntimeError):
        return False
    return _cpu_has("avx512_bf16") or _cpu_has("amx_tile")


def _cpu_has(feature: str) -> bool:
    """torch.cpu._is_<feature>_supported(), False where this torch build has no such check."""
    return bool(getattr(torch.cpu, f"_is_{feature}_supported", lambda: False)())


def cpu_vendor() -> str:
    """ "amd", "intel" or "" (not known), from the CPUID vendor string: /proc/cpuinfo's vendor_id on Linux,
    platform.processor() elsewhere (Windows ends it with the vendor string)."""
    text = platform.processor()  # Windows: "AMD64 Family 25 ..., AuthenticAMD" (AMD64 is the ISA's name)
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
        text = next((line for line in cpuinfo if line.startswith("vendor_id")), text)
    for vendor, name in (("amd", "AuthenticAMD"), ("intel", "GenuineIntel")):
        if name in text:
            return vendor
    return ""


@functools.cache
def cpu_bf16_is_faster() -> bool:
    """auto's choice on the CPU: native bf16 (:func:`cpu_has_native_bf16`) where it is also faster, which
    the hardware decides, so that the same command gives the same pictures whatever the machine's load:

    - AMX: bf16 tiles run several times fp32's rate;
    - avx512_bf16 without AMX: on AMD (Zen 4 and later), where a bf16 dot product does twice the work of
      an fp32 FMA at the same rate (an EPYC ran the VGG encoder/decoder stylize 1.5–1.9× faster in bf16); not on Intel,
      whose cores have two fp32 FMA units but one for bf16 dot products (a Xeon ran it at 0.66×).

    The benchmark's header prints a measured bf16/fp32 convolution ratio beside this choice."""
    return cpu_has_native_bf16() and (_cpu_has("amx_tile") or cpu_vendor() == "amd")


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """The precision the networks run in on `device`: "fp32", "bf16" or (CUDA without bf16) "fp16".

    None: the device's default, auto on CUDA and fp32 on the CPU (bf16 on the CPU is asked for, see
    the README's Performance section for what it changes in the pictures). An Apple GPU (MPS) runs
    fp32: auto picks it, and bf16 is refused there.
    """
    name = check_precision(precision) or ("auto" if device.type == "cuda" else "fp32")
    if name == "fp32":
        return "fp32"
    if device.type == "mps":
        if name == "bf16":
            raise RequestError("{precision} 'bf16' is not supported on an Apple GPU (MPS); use fp32 or auto",
                               "precision")
        return "fp32"
    if device.type == "cuda":
        return "bf16" if name == "bf16" or torch.cuda.is_bf16_supported() else "fp16"
    if name == "bf16":
        if not cpu_has_native_bf16():  # asked for: it runs, but oneDNN emulates it (measured 8× slower)
            warnings.warn("this CPU has no native bf16 (avx512_bf16 or AMX): bf16 runs emulated, several "
                          "times slower than fp32; choose fp32 or auto here", stacklevel=2)
        return "bf16"
    return "bf16" if cpu_bf16_is_faster() else "fp32"


def _run_in_weight_dtype(module: nn.Module, args: tuple[object, ...]) -> tuple[object, ...]:
    dtype = cast(Tensor, module.weight).dtype  # registered on convolutions only
    return tuple(a.to(dtype) if isinstance(a, Tensor) and a.is_floating_point() else a for a in args)


def store_weights_bf16(net: nn.Module, fp32_layers: Sequence[nn.Module] = ()) -> nn.Module:
    """Convolution weights and biases in bf16 (but `fp32_layers`: those that read or write pixels, named
    by the model's family), and every convolution casting its input to its weights' dtype: bf16
    convolutions, fp32 image layers, no autocast.

    Measured per layer (README Performance): every other layer contributes alike, so keeping more of
    them fp32 buys little accuracy per second lost."""
    keep = {id(m) for m in fp32_layers}
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            if id(module) not in keep:
                module.to(torch.bfloat16)
            module.register_forward_pre_hook(_run_in_weight_dtype)
    return net


class DevicePolicy:
    """Where and how a net runs: see the module docstring. ``precision`` is the resolved name."""

    def __init__(self, device: str | torch.device = "auto", precision: str | None = None) -> None:
        self.device = pick_device(device)
        self.precision = resolve_precision(precision, self.device)
        on_cuda = self.device.type == "cuda"
        self.channels_last = on_cuda
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision) if on_cuda else None
        self.bf16_weights = not on_cuda and self.precision == "bf16"

    def prepare(self, net: nn.Module, fp32_layers: Sequence[nn.Module] = ()) -> nn.Module:
        """The net frozen, in eval mode, on the device (channels_last on CUDA; bf16 weights on a bf16 CPU,
        but `fp32_layers`)."""
        net = net.eval().requires_grad_(False).to(self.device)
        if self.bf16_weights:
            net = store_weights_bf16(net, fp32_layers)
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
