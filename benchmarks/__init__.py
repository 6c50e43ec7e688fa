"""stylexfer performance benchmark: every case against this machine's measured fp32 matmul limit.

    python -m benchmarks                       # all cases, table + outputs/bench/bench-<time>.json
    python -m benchmarks --quick               # small sizes, few repeats (a minute or two)
    python -m benchmarks --cases stylize,train # cases whose name contains any of these words
    python -m benchmarks --device cuda --amp --compile

One process times every case after warm-up (median of the repeats; min and process CPU time are
kept too). FLOPs come from torch.utils.flop_counter.FlopCounterMode (a multiply-add is 2 FLOPs),
for the limit and the cases alike; efficiency = achieved GFLOP/s / limit GFLOP/s. The limit is the
best median over a few dense fp32 matrix multiplies run through both CPU GEMM back ends PyTorch has:
MKL (torch.mm) and oneDNN (the same product as a 1×1 convolution). Peak resident memory of each
case comes from a fresh subprocess that runs the case once, so cases don't inherit each other's peaks.

Modules: harness (config, timing, FLOP counting, the matmul limit, run_case), cases (the catalogue),
memory (peak-memory probes in a child process), report (targets, table, the whole run), __main__
(the command line). The plain reference forwards it times against are tests/reference_nets.py, the
same ones the equivalence tests check the networks against.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run from a checkout without installing (src/), and share the tests' reference networks (tests/).
for _folder in (ROOT / "src", ROOT / "tests"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
