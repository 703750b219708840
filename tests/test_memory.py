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


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (malloc.h): every field a ``size_t``."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _mapped_blocks() -> int:
    """Blocks glibc has mapped from the system on their own (``hblks``), now."""
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().hblks)


def _has_mallinfo2() -> bool:
    try:
        ctypes.CDLL(None).mallinfo2  # noqa: B018
    except (AttributeError, OSError):
        return False
    return True


def _maps_alone(size: int = 48 << 20) -> bool:
    """Whether a new block of ``size`` bytes is mapped on its own rather than taken from
    the heap (numpy's arrays come from ``malloc``)."""
    before = _mapped_blocks()
    block = np.empty(size, dtype=np.uint8)
    mapped = _mapped_blocks() - before
    del block
    assert mapped in (0, 1)
    return mapped == 1


@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc's mallinfo2")
def test_heap_reuse_takes_large_blocks_from_the_heap_until_ended() -> None:
    """A 48 MiB array is a mapping of its own (glibc maps anything above 32 MiB), but from
    the heap inside ``heap_reuse``; ``end_heap_reuse`` maps them alone again, for good (the
    context's end does not start reusing again), and so does an error inside."""
    from coverage._memory import end_heap_reuse, heap_reuse

    assert _maps_alone()
    with heap_reuse():
        assert not _maps_alone()
        with heap_reuse():  # nested: nothing more, and its end ends nothing
            assert not _maps_alone()
        assert not _maps_alone()
        end_heap_reuse()
        assert _maps_alone()
    assert _maps_alone()

    @heap_reuse()
    def fails() -> None:
        assert not _maps_alone()
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fails()
    assert _maps_alone()
