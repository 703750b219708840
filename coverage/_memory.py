"""Memory a step has freed, given back to the system (the run's steps and its GeoPackage
child alike)."""

from __future__ import annotations

import ctypes


def release_memory() -> None:
    """Give memory freed by a step back to the system: the free pages inside the C heap
    (glibc's ``malloc_trim``; nothing elsewhere) and those Arrow's pool keeps. Freed small
    objects (5·10⁶ GEOS points after reading, strings, Arrow buffers after writing, the
    GeoPackage child's per-batch R-tree entries) leave 0.1-0.7 GB at a time that the large
    arrays made afterwards never reuse: glibc maps those separately. A call takes 0.3 s
    after a national file's points, milliseconds otherwise."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return
    trim(0)
