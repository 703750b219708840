"""The run's use of the C heap: memory a step has freed given back to the system (the run's
steps and its GeoPackage child alike), and freed memory reused while the addresses are read,
assigned and classified."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: glibc's ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
#: What :func:`end_heap_reuse` sets: glibc's default count of mapped blocks, and the
#: thresholds its dynamic rule reaches once blocks of a national run's size have been freed
#: (the largest it allows, 32 MiB on 64-bit systems, and twice that for the trim).
_MMAP_MAX, _MMAP_THRESHOLD, _TRIM_THRESHOLD = 65536, 32 << 20, 64 << 20

_lock = threading.Lock()
_reusing = False


def _libc(name: str) -> Callable[..., Any] | None:
    """A function of the C library the process runs on (glibc's ``mallopt``, …), or None."""
    try:
        return getattr(ctypes.CDLL(None), name)  # type: ignore[no-any-return]
    except (AttributeError, OSError, TypeError):  # TypeError: CDLL(None) on Windows
        return None


def mallopt(*settings: tuple[int, int]) -> bool:
    """glibc's ``mallopt(parameter, value)`` for each pair, in order; False (nothing set)
    where the C library has none."""
    call = _libc("mallopt")
    if call is None:
        return False
    for parameter, value in settings:
        call(parameter, value)
    return True


def release_memory() -> None:
    """Give memory freed by a step back to the system: the free pages inside the C heap
    (glibc's ``malloc_trim``; nothing elsewhere) and those Arrow's pool keeps. Freed small
    objects (5·10⁶ GEOS points after reading, strings, Arrow buffers after writing, the
    GeoPackage child's per-batch R-tree entries) leave 0.1-0.7 GB at a time that the large
    arrays made afterwards never reuse: glibc maps those separately. A call takes 0.3 s
    after a national file's points, milliseconds otherwise."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _libc("malloc_trim")
    if trim is not None:
        trim(0)


@contextmanager
def heap_reuse() -> Iterator[None]:
    """Inside (until :func:`end_heap_reuse`), blocks of any size come from glibc's heap, and
    memory freed there serves the next blocks, instead of each large block (above 32 MiB at
    most) being mapped from the system when made and unmapped when freed.

    Why: a page the process has not used before is zeroed by the kernel on its first write,
    and these virtual machines hand freed memory back to their host (free page reporting),
    so a new page costs the host's work too. A national run's arrays of 5·10⁶ rows are
    40 MB each, made and freed hundreds of times: 15-16 GB of new huge pages and 2·10⁶ page
    faults per run, 16 s of its CPU in the kernel's page zeroing (perf), and the part of its
    time that grows most when the host is busy. Reused while reading, assigning and
    classifying: 11-12 GB and 1.3·10⁶ faults, ~5 s of CPU less (docs/performance.md,
    "Twenty-second session"). Only the heap's top is still given back at once (keeping more
    of it changed nothing measurable); memory freed below it is released by
    :func:`end_heap_reuse` and :func:`release_memory`. Elsewhere than glibc (no
    ``mallopt``) this does nothing.
    """
    global _reusing
    with _lock:
        start = not _reusing and mallopt((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 0))
        _reusing = _reusing or start
    try:
        yield
    finally:
        if start:
            end_heap_reuse()


def end_heap_reuse() -> None:
    """Large blocks mapped from the system again, as glibc does (:func:`heap_reuse`), and
    the heap's free memory released (:func:`release_memory`): from here on, memory that
    long-lived arrays free returns to the system, as the run's memory peak needs."""
    global _reusing
    with _lock:
        if _reusing:
            mallopt(
                (_M_MMAP_MAX, _MMAP_MAX),
                (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
                (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),
            )
        _reusing = False
    release_memory()
