"""Long parametrized families in `make test-fast`: an evenly spread sample runs there, `make test` runs
every case. Used where each case composes a Hydra config (0.1–0.4 s apiece on 2 cores)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from _pytest.mark import ParameterSet


def fast_sample(cases: Sequence[object], keep: int) -> list[object]:
    """`cases` for ``pytest.mark.parametrize``, all but `keep` of them (every n-th is kept, so the sample
    spans the list) marked `slow`. A tuple case is one case of several arguments."""
    step = max(1, math.ceil(len(cases) / keep))
    sampled: list[object] = []
    for index, case in enumerate(cases):
        if index % step == 0:
            sampled.append(case)
        elif isinstance(case, ParameterSet):
            sampled.append(pytest.param(*case.values, marks=[*case.marks, pytest.mark.slow], id=case.id))
        else:
            values = case if isinstance(case, tuple) else (case,)
            sampled.append(pytest.param(*values, marks=pytest.mark.slow))
    return sampled
