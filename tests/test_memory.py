"""coverage._memory: memory freed inside the C heap goes back to the system."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from coverage._memory import release_memory


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def _has_malloc_trim() -> bool:
    try:
        ctypes.CDLL(None).malloc_trim  # noqa: B018
    except (AttributeError, OSError):
        return False
    return Path("/proc/self/statm").exists()


@pytest.mark.skipif(not _has_malloc_trim(), reason="glibc's malloc_trim and /proc (Linux)")
def test_freed_small_arrays_in_the_middle_of_the_heap_are_given_back() -> None:
    # 2,000 arrays of 64 KiB (glibc keeps blocks this small in its heap, not mapped alone),
    # then one kept after them: freed, they sit below it, where glibc never trims by itself.
    arrays = [np.ones(8192) for _ in range(2000)]
    pin = np.ones(8192)
    del arrays
    before = _rss_mb()
    release_memory()
    after = _rss_mb()
    assert before - after > 60, (before, after)  # of the 125 MiB freed
    assert pin.sum() == 8192
