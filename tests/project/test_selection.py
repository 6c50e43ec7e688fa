"""`fast_sample`: which cases of a long parametrized family `make test-fast` runs."""

from __future__ import annotations

import pytest

from selection import fast_sample


def _slow(case: object) -> bool:
    return any(mark.name == "slow" for mark in getattr(case, "marks", ()))


def test_the_sample_spans_the_family_and_the_rest_is_slow() -> None:
    cases = [(f"key{i}", i) for i in range(10)] + [pytest.param("given", 10, id="given", marks=pytest.mark.xfail)]
    sampled = fast_sample(cases, keep=3)
    fast = [case for case in sampled if not _slow(case)]
    assert fast == [("key0", 0), ("key4", 4), ("key8", 8)]  # every 4th: first, middle and end of the list
    slow = [case for case in sampled if _slow(case)]
    assert [case.values for case in slow] == [(f"key{i}", i) for i in (1, 2, 3, 5, 6, 7, 9)] + [("given", 10)]
    assert [mark.name for mark in slow[-1].marks] == ["xfail", "slow"] and slow[-1].id == "given"
    assert fast_sample(["a", "b"], keep=5) == ["a", "b"]  # a family smaller than the sample runs whole
