"""Process-wide settings that entry points (CLI, training, demo, benchmark) apply once at start."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import sys
from typing import NoReturn

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_tuned = False


def tune_cpu_allocator() -> bool:
    """Let glibc reuse freed large blocks instead of returning them to the kernel.

    By default glibc serves every block above its mmap threshold (128 KB, adapting up to 32 MB) with
    fresh pages and unmaps it on free, so each activation of a 512² image (tens of MB) is page-faulted
    and zero-filled anew on every call: about a third of a CPU stylization or training step. With
    the thresholds raised, the heap keeps and reuses that memory (a VGG encoder/decoder at 512²: 1.23 s -> 0.84 s on
    2 cores). Cost: resident memory stays at its peak until the process ends. Returns False, changing
    nothing, where the C library is not glibc.
    """
    global _tuned
    if _tuned:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = (
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1  # blocks up to 1 GB come from the reusable heap
        and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1  # and freed ones are not handed back
        and libc.mallopt(_M_TOP_PAD, 256 << 20) == 1  # grow the heap in 256 MB steps, fewer brk calls
    )
    _tuned = ok
    return ok


def exit_now(code: int) -> NoReturn:
    """End the process at once with `code`, after flushing logs and the standard streams.

    For commands whose files are all written atomically and fsynced when they return: it skips the
    interpreter's teardown, which with torch loaded takes 0.3-0.5 s and has nothing left to save.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing more to say
            stream.flush()
    os._exit(code)
