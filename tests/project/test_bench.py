"""Smoke test of the benchmarks package: every case runs at tiny sizes, the report has its structure,
FLOPs are counted exactly (a multiply-add is 2 FLOPs), and both entry points start. No timing asserts."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchmarks import __main__ as entry
from benchmarks import cases, harness, memory, report

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    """The package's public names in one namespace, as the tests below use them."""
    return SimpleNamespace(
        BenchConfig=harness.BenchConfig, run_case=harness.run_case, matmul_limit=harness.matmul_limit,
        stylize_case=cases.stylize_case, reused_style_case=cases.reused_style_case, all_cases=cases.all_cases,
        run_bench=report.run_bench, child_main=memory.child_main, main=entry.main,
    )


@pytest.fixture
def tiny(bench, tmp_path):
    return bench.BenchConfig(
        repeats=1, warmup=0, sizes=(32,), batch=2, crop=32, folder_images=2, folder_batch=2,
        jpeg_sizes=(("coco", 64, 48), ("wikiart", 400, 300)), pipeline_images=2, shorter_side=64,
        loader_items=4, limit_sizes=(256,), memory=False, workdir=tmp_path, tiled_size=64,
        batching_images=3, batching_size=32, batching_batches=(1, 2), sanet_sizes=(32, 48), sanet_big_style=24,
    )


def conv_flops(cin: int, cout: int, k: int, h_out: int, w_out: int) -> int:
    return 2 * cin * cout * k * k * h_out * w_out


def test_transformer_net_flops_are_exact(bench, tiny):
    """TransformerNet at 32²: the sum of 2·Cin·Cout·k²·H_out·W_out over its 16 convolutions."""
    s = 32
    expected = (
        conv_flops(3, 32, 9, s, s)
        + conv_flops(32, 64, 3, s // 2, s // 2)
        + conv_flops(64, 128, 3, s // 4, s // 4)
        + 10 * conv_flops(128, 128, 3, s // 4, s // 4)
        + conv_flops(128, 64, 3, s // 2, s // 2) + conv_flops(64, 32, 3, s, s) + conv_flops(32, 3, 9, s, s)
    )
    result = bench.run_case(bench.stylize_case("johnson", s), tiny, limit_gflops=100.0)
    assert result.flops == expected
    assert result.gflops_per_s == pytest.approx(result.flops / result.median_s / 1e9)
    assert result.efficiency == pytest.approx(result.gflops_per_s / 100.0)


@pytest.mark.slow
def test_adain_flops_and_plain_path_agree(bench, tiny):
    """Content+style AdaIN = two encodings plus one decoding; the plain reference path counts the same
    convolutions except the 3→3 1×1 normalisation conv (2·9·H·W per image), which the fast path folds
    into conv1_1's weights with a few-kFLOP einsum."""
    s = 32
    fast = bench.run_case(bench.stylize_case("adain", s), tiny, None)
    plain = bench.run_case(bench.stylize_case("adain", s, reference=True), tiny, None)
    saved = plain.flops - fast.flops
    assert 0 < saved <= 2 * (2 * 3 * 3 * s * s)
    assert saved / plain.flops < 1e-4
    reused = bench.run_case(bench.reused_style_case(s), tiny, None)
    assert reused.items == tiny.folder_batch
    # per image: one encoding and one decoding instead of two encodings and one decoding
    encode = (fast.flops - reused.flops / reused.items)
    assert 0.25 < encode / fast.flops < 0.4


def test_matmul_limit_counts_two_flops_per_multiply_add(bench, tiny):
    limit = bench.matmul_limit(tiny)
    assert {c["flops"] for c in limit["candidates"]} == {2 * 256**3}
    assert limit["gflops_per_s"] == max(c["gflops_per_s"] for c in limit["candidates"])


def test_a_gemm_this_cpu_cannot_run_is_left_out_with_its_reason(bench, tiny, monkeypatch):
    """oneDNN's bf16 inner product needs AVX-512 (an AVX2 CPU raises): the limit comes from the others."""
    def refuse(*args):
        raise RuntimeError("mkldnn_linear: bf16 path needs the cpu support avx512bw\nmore")

    monkeypatch.setattr(torch._C._nn, "mkldnn_linear", refuse)
    limit = bench.matmul_limit(tiny, torch.bfloat16)
    names = {c["name"] for c in limit["candidates"]}
    assert "mm 256³" in names and not any(n.startswith("oneDNN") for n in names)
    assert limit["unavailable"] == {"oneDNN linear 256³": "mkldnn_linear: bf16 path needs the cpu support avx512bw"}


@pytest.mark.slow
def test_whole_report_structure(bench, tiny, tmp_path):
    lines: list[str] = []
    report = bench.run_bench(tiny, bench.all_cases(tiny), command="benchmarks --test", log=lines.append)
    json.loads(json.dumps(report, default=str))  # JSON-serialisable
    names = [c["name"] for c in report["cases"]]
    assert names == [c.name for c in bench.all_cases(tiny)]
    for case in report["cases"]:
        assert case["name"] in report["table"]
        if case["status"] == "ok":
            assert case["median_s"] > 0 and case["items_per_s"] > 0
            assert len(case["times_s"]) == tiny.repeats
    by_name = {c["name"]: c for c in report["cases"]}
    assert by_name["train/adain"]["flops"] > 0 and by_name["train/johnson"]["efficiency"] > 0
    assert by_name["data/wikiart-400x300/draft"]["flops"] is None
    tiled = by_name["memory/adain/4096/tiled"]
    if tiled["status"] == "n/a":
        assert "tiling not available" in tiled["note"]
        assert "n/a (tiling not available)" in report["table"]
    assert {"limit", "environment", "targets", "config"} <= set(report)
    assert any("1024" not in t["target"] for t in report["targets"])
    # The folder at each batch size, side by side, through the real command (--timings read back).
    batching = [t for t in report["targets"] if t["target"].startswith("folder of 3 32² images")]
    assert len(batching) == 2 and all("b1 " in t["shown"] and "| b2 " in t["shown"] for t in batching)
    assert by_name["batching/adain/batch-2"]["extra"]["network_s"] > 0
    assert by_name["batching/adain/batch-2"]["items"] == 3


def test_child_reports_peak_memory(bench, tiny, capsys, monkeypatch):
    monkeypatch.setattr(memory, "all_cases", lambda cfg: [bench.stylize_case("adain", 32)])
    assert bench.child_main("stylize/adain/32", replace(tiny)) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["peak_rss_mb"] > 0 and data["growth_mb"] >= 0


def test_cuda_request_without_gpu_is_a_clean_error(bench, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the error path does not apply")
    assert bench.main(["--device", "cuda", "--cases", "none"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_cases_and_skip_select_by_words_in_the_name(bench, tiny):
    everything = bench.all_cases(tiny)
    chosen = [c.name for c in entry.select(everything, "stylize/adain,train/adain", "bf16,plain")]
    assert "stylize/adain/32" in chosen and "train/adain" in chosen
    assert not any("bf16" in n or "plain" in n or "johnson" in n for n in chosen)
    assert len(entry.select(everything, "", "")) == len(everything)


@pytest.mark.slow  # two fresh interpreters importing torch
@pytest.mark.parametrize("command", [["-m", "benchmarks"], ["scripts/bench.py"]])
def test_entry_points_list_the_cases(command):
    """`python -m benchmarks` (make bench) and the old scripts/bench.py both start from a checkout."""
    done = subprocess.run([sys.executable, *command, "--list", "--quick"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    names = done.stdout.split()
    assert "stylize/adain/512/plain" in names and "train/johnson" in names


def test_the_bf16_conv_probe_times_both_precisions(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[torch.dtype] = []
    conv = torch.nn.Conv2d.forward

    def spy(self: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        calls.append(x.dtype)
        return conv(self, x)

    monkeypatch.setattr(torch.nn.Conv2d, "forward", spy)
    ratio = harness.bf16_conv_speedup(repeats=2)
    assert 0 < ratio < float("inf")
    assert calls == [torch.float32, torch.bfloat16] * 3  # a warm-up round, then two timed ones


def test_the_header_says_what_auto_picks_beside_the_measured_ratio() -> None:
    native = {"native_bf16": True, "bf16_conv_speedup": 0.66, "auto_cpu_precision": "fp32"}
    assert report._bf16_words(native) == "yes (a 3×3 conv measured 0.66× fp32; --precision auto picks fp32)"
    assert report._bf16_words({"native_bf16": False}) == "no (emulated)"


@pytest.mark.slow
def test_sanet_cases_run_beside_the_reference_and_give_their_targets(tiny):
    """stylize/sanet at two sizes, train/sanet, and the reference's code on the same weights."""
    from benchmarks.sanet import sanet_cases, sanet_targets

    found = sanet_cases(tiny)
    assert [c.name for c in found] == ["stylize/sanet/32", "stylize/sanet/32/reference", "stylize/sanet/32/bf16",
                                       "stylize/sanet/48", "train/sanet", "train/sanet/reference"]
    results = [harness.run_case(case, tiny, limit_gflops=100.0) for case in found]
    assert all(r.status == "ok" and r.median_s > 0 for r in results)
    assert results[2].precision == "bf16" and results[2].extra["precision"] == "bf16"
    results[3].peak_rss_mb = 100.0  # measured by a child process in a real run
    rows = {row["target"].split(" ")[0]: row for row in sanet_targets(results)}
    assert set(rows) == {"stylize/sanet/32", "stylize/sanet/32/bf16", "train/sanet", "stylize/sanet/48"}
    assert "(fp32)" in rows["stylize/sanet/32/bf16"]["target"]  # the reference has no bf16 path
    assert rows["stylize/sanet/48"]["met"] and "GiB per module" in rows["stylize/sanet/48"]["shown"]
