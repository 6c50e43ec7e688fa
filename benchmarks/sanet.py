"""SANet cases (issue 22 §3), each beside the reference's own code (benchmarks/sanet_reference.py) on the
same random weights: stylize at cfg.sanet_sizes[0] (512²), stylize at cfg.sanet_sizes[1] (2048²) with a
cfg.sanet_big_style (1024²) style through the Stylizer as `stylexfer stylize` runs it (tile="auto": two
passes with whole-image mvn statistics), measured for peak memory (the reference's attention matrix
alone would be (2048²/64)·(1024²/64)·4 B = 4 GiB per module, so it has no case there), and one training step
(forward, backward, Adam on the transform and decoder) at cfg.batch × cfg.crop²."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from benchmarks.harness import BenchConfig, Case, CaseResult, images, inference, quiet_random_weights
from benchmarks.sanet_reference import reference_losses, reference_release, reference_stylize

# Train.ipynb: loss = content_weight·L_c + style_weight·L_s + 50·L_id1 + 1·L_id2
WEIGHTS = {"content": 1.0, "style": 3.0, "identity1": 50.0, "identity2": 1.0}
TARGETS = {"stylize": 0.6, "train": 0.7}  # ours ÷ the reference's time, at most
MEMORY_TARGET_MB = 4000.0


@functools.lru_cache(maxsize=1)
def _release() -> tuple[Any, Any, Any]:
    return reference_release()


def _nets(cfg: BenchConfig) -> tuple[tuple[Any, Any, Any], Any]:
    """The reference's (vgg, decoder, transform) and our SANetNet with the same weights, on cfg.device."""
    from stylexfer.families.sanet.importer import convert_sanet_release
    from stylexfer.families.sanet.net import SANetNet

    vgg, decoder, transform = _release()
    with quiet_random_weights():
        net = SANetNet(encoder_weights="random")
    net.load_state_dict(convert_sanet_release(vgg.state_dict(), decoder.state_dict(), transform.state_dict()))
    return (vgg.to(cfg.device), decoder.to(cfg.device), transform.to(cfg.device)), net.to(cfg.device).eval()


def _attention_gib(content: int, style: int) -> float:
    """The reference's relu4_1 attention matrix: (H·W/64) × (H'·W'/64) fp32 values."""
    return (content * content // 64) * (style * style // 64) * 4 / 2**30


def stylize_sanet_case(size: int, style_size: int, *, reference: bool = False, big: bool = False,
                       precision: str = "fp32") -> Case:
    """precision "bf16": the net as `--precision bf16` runs it (what `auto` picks on a CPU with AMX)."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        (vgg, decoder, transform), net = _nets(cfg)
        if precision == "bf16":
            from benchmarks.cases import bf16_net

            net = bf16_net(net, cfg)
        content, style = images(1, size, cfg), images(1, style_size, cfg, seed=1)
        stylizer = None
        if big:  # what `stylexfer stylize` does at this size: tile="auto" (two passes, whole-image mvn)
            from stylexfer.files.spec import ModelSpec
            from stylexfer.inference import Stylizer
            from stylexfer.inference.request import StylizeRequest

            stylizer = Stylizer(net, ModelSpec("sanet", encoder="random"), device=cfg.device, precision="fp32")
            request = StylizeRequest(n_styles=1, style_size=None)  # the 1024² style as it is

        def run() -> Any:
            with inference(cfg):
                if reference:
                    return reference_stylize(vgg, decoder, transform, content, style)
                if stylizer is not None:
                    return stylizer.run(request, content, [style])
                return net(content, style)

        extra = {"size": size, "style_size": style_size, "precision": precision,
                 "reference_attention_gib_per_module": round(_attention_gib(size, style_size), 3)}
        return run, 1, extra

    name = f"stylize/sanet/{size}" + ("/reference" if reference else "/bf16" if precision == "bf16" else "")
    return Case(name, "stylize", setup, count_flops=not big, single_run=big, precision=precision)


def train_sanet_case(*, reference: bool = False) -> Case:
    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        from stylexfer.families.sanet.losses import sanet_loss_terms

        (vgg, decoder, transform), net = _nets(cfg)
        content, style = images(cfg.batch, cfg.crop, cfg), images(cfg.batch, cfg.crop, cfg, seed=1)
        if reference:
            decoder.train(), transform.train()
            params = [*decoder.parameters(), *transform.parameters()]

            def loss() -> Tensor:
                terms = reference_losses(vgg, decoder, transform, content, style)
                return sum(w * t for w, t in zip(WEIGHTS.values(), terms, strict=True))  # type: ignore[return-value]
        else:
            net.train()
            params = [*net.transform.parameters(), *net.decoder.parameters()]

            def loss() -> Tensor:
                _, terms = sanet_loss_terms(net, content, style)
                return sum(WEIGHTS[k] * terms[k] for k in WEIGHTS)  # type: ignore[return-value]

        opt = torch.optim.Adam(params, lr=1e-4) if reference else torch.optim.Adam(params, lr=1e-4, fused=True)

        def run() -> Any:
            opt.zero_grad(set_to_none=True)
            total = loss()
            total.backward()
            opt.step()
            return total.detach()

        return run, cfg.batch, {"batch": cfg.batch, "crop": cfg.crop}

    return Case("train/sanet" + ("/reference" if reference else ""), "train", setup)


def sanet_cases(cfg: BenchConfig) -> list[Case]:
    small, big = cfg.sanet_sizes
    return [
        stylize_sanet_case(small, small),
        stylize_sanet_case(small, small, reference=True),
        stylize_sanet_case(small, small, precision="bf16"),
        stylize_sanet_case(big, cfg.sanet_big_style, big=True),
        train_sanet_case(),
        train_sanet_case(reference=True),
    ]


def sanet_targets(results: list[CaseResult]) -> list[dict[str, Any]]:
    """Ours ÷ the reference at 512² and per training step; peak memory of the 2048² case."""
    ok = {r.name: r for r in results if r.status == "ok"}
    rows = []
    for group, limit in TARGETS.items():
        ours = next((r for n, r in ok.items() if n.startswith(f"{group}/sanet") and not n.endswith("/reference")
                     and f"{n}/reference" in ok), None)
        if ours is None or ours.median_s is None:
            continue
        ref = ok[f"{ours.name}/reference"]
        ratio = ours.median_s / (ref.median_s or float("inf"))
        rows.append({"target": f"{ours.name} time <= {limit} × the reference's", "value": ratio,
                     "shown": f"{ratio:.2f}× ({ours.median_s:.2f} s vs {ref.median_s:.2f} s)", "met": ratio <= limit})
    bf16, ref = ok.get(f"stylize/sanet/{_small(ok)}/bf16"), ok.get(f"stylize/sanet/{_small(ok)}/reference")
    if bf16 is not None and ref is not None and bf16.median_s and ref.median_s:
        ratio = bf16.median_s / ref.median_s  # the reference runs in fp32: it has no bf16 path
        rows.append({"target": f"{bf16.name} time <= {TARGETS['stylize']} × the reference's (fp32)", "value": ratio,
                     "shown": f"{ratio:.2f}× ({bf16.median_s:.2f} s vs {ref.median_s:.2f} s)",
                     "met": ratio <= TARGETS["stylize"]})
    big = [r for n, r in ok.items() if n.startswith("stylize/sanet/") and r.extra.get("style_size")
           and r.extra["style_size"] != r.extra["size"] and r.peak_rss_mb is not None]
    for r in big:
        rows.append({"target": f"{r.name} peak memory < {MEMORY_TARGET_MB:.0f} MB", "value": r.peak_rss_mb,
                     "shown": f"{r.peak_rss_mb:.0f} MB (the reference's attention: "
                              f"{r.extra['reference_attention_gib_per_module']} GiB per module)",
                     "met": r.peak_rss_mb < MEMORY_TARGET_MB})
    return rows


def _small(ok: dict[str, CaseResult]) -> int | None:
    """The small stylize size that ran (cfg.sanet_sizes[0])."""
    return next((r.extra.get("size") for n, r in ok.items()
                 if n.endswith("/reference") and n.startswith("stylize/sanet/")), None)
