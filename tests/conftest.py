"""Shared fixtures: everything on the CPU with random or test-made weights, images made in tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator


def _threads_per_worker() -> int | None:
    """CPU threads each pytest-xdist worker may use: the cores shared out among the workers (None when
    not under xdist). Why: PyTorch's OpenMP pool takes every core in every worker, so `-n 2` on 2 cores
    runs 4 spinning threads on 2 cores; a small convolution then takes 10-50× longer (a Johnson net on
    six 24×16 frames: 0.05 s with one thread, 0.6-3.8 s with two next to a busy worker)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers < 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // workers)


# Before torch is imported, so OpenMP, MKL and OpenBLAS start with it; inherited by the commands the
# tests run in subprocesses (their environment is a copy of this one).
_THREADS = _threads_per_worker()
if _THREADS is not None:
    # TorchInductor's compile workers too: its pool of processes (each importing torch) is per worker.
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCHINDUCTOR_COMPILE_THREADS"):
        os.environ.setdefault(_name, str(_THREADS))

import pytest  # noqa: E402 - after the thread settings above
import torch  # noqa: E402

if _THREADS is not None:
    torch.set_num_threads(_THREADS)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _xdist_group_lock(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests marked `xdist_group(name)` never run side by side under pytest-xdist: each holds an
    exclusive lock on a file of that name in the run's temporary root (shared by its workers). Why:
    `--dist loadgroup` no longer keeps a group on one worker with pytest 9.2 (pytest-xdist issue 1386:
    the group travels in the node id, which pytest now builds itself), so the memory-heavy tests could
    meet; the lock does not depend on the scheduler."""
    marker = request.node.get_closest_marker("xdist_group")
    if marker is None or "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    import fcntl

    name = marker.args[0] if marker.args else marker.kwargs.get("name", "default")
    with open(tmp_path_factory.getbasetemp().parent / f"xdist_group-{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


@pytest.fixture(scope="session")
def adain_net():
    """One random-weight AdaIN network for the whole session (read-only use). Seeded here: a session
    fixture is built before the first test's `_seed`, so its weights would otherwise depend on which
    tests ran earlier in the same worker (and differ between pytest-xdist runs)."""
    from stylexfer.families.adain.net import AdaINNet

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return AdaINNet(encoder_weights="random").eval()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the `slow` tests first (each part in its own order). Why: the scheduler hands
    out tests in collection order as workers free up, so a minute-long test collected late runs
    alone at the end while the other workers sit idle; started first, the many short tests fill in
    around it. A plain run keeps the file order."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    items[:] = sorted(items, key=lambda item: item.get_closest_marker("slow") is None)
