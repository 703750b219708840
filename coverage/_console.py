"""The ``bbplan`` console script's entry point: glibc's malloc is set up before the CLI's
modules (numpy, pandas, GEOS, numba…) are imported — its blocks on transparent huge pages
(which glibc reads only at start, so the script runs itself again once) and its arenas capped
— then :func:`coverage.cli.main` runs.

Only the standard library is imported here (:mod:`coverage._memory` needs no more until
called): glibc fixes its arena limit for good once more than eight arenas exist, and a
``mallopt`` after that changes nothing, so the cap must come before anything that may start
threads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from coverage._memory import mallopt

#: glibc's ``mallopt`` parameter for the number of malloc arenas (``M_ARENA_MAX``, malloc.h).
_M_ARENA_MAX = -8
#: Arenas the console script allows.
MALLOC_ARENAS = 2


def few_malloc_arenas(count: int = MALLOC_ARENAS) -> None:
    """At most ``count`` glibc malloc arenas from now on, as ``MALLOC_ARENA_MAX=count`` would
    set, unless the user set a limit (``MALLOC_ARENA_MAX``, or ``arena_max`` in
    ``GLIBC_TUNABLES``; glibc has read it already).

    glibc gives each new thread an arena of its own, up to eight per core, and memory freed
    in one arena serves no other: the national run's largest process peaked at 5,725–5,893
    MiB with sixteen arenas and 5,616–5,715 MiB with two (under 6·10⁹ bytes), its time within
    the machine's drift (docs/performance.md, "Seventeenth session"). Elsewhere than glibc
    (no ``mallopt``) this does nothing.
    """
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return
    mallopt((_M_ARENA_MAX, count))


#: What the console script adds to ``GLIBC_TUNABLES``: glibc's malloc asks for transparent
#: huge pages (``madvise``) for its heap and the blocks it maps (glibc 2.35 and later).
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"
#: The first glibc that knows the tunable (older ones ignore it: running again gains nothing).
_HUGE_PAGES_GLIBC = (2, 35)


def tunables_with_huge_pages(environ: Mapping[str, str], libc: str | None) -> str | None:
    """The ``GLIBC_TUNABLES`` value that adds :data:`HUGE_PAGES_TUNABLE` to ``environ``'s,
    or None when there is nothing to add: the C library (``libc``, as
    ``os.confstr("CS_GNU_LIBC_VERSION")`` names it: ``"glibc 2.36"``; None elsewhere) is not
    glibc 2.35 or later, or the user chose (``glibc.malloc.hugetlb`` set to any value)."""
    name, _, version = (libc or "").partition(" ")
    try:
        release = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None
    given = environ.get("GLIBC_TUNABLES", "")
    if name != "glibc" or release < _HUGE_PAGES_GLIBC or "glibc.malloc.hugetlb" in given:
        return None
    return f"{given}:{HUGE_PAGES_TUNABLE}" if given else HUGE_PAGES_TUNABLE


def _libc_version() -> str | None:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):  # not glibc, or no confstr (Windows)
        return None


def _set_id() -> bool:
    """Whether the process runs with another user's or group's rights (set-id)."""
    if not hasattr(os, "geteuid"):
        return False
    return os.getuid() != os.geteuid() or os.getgid() != os.getegid()


def with_huge_pages() -> None:
    """Run this process's command again (same pid, interpreter options and arguments) with
    :data:`HUGE_PAGES_TUNABLE` in ``GLIBC_TUNABLES``, unless there is nothing to add
    (:func:`tunables_with_huge_pages`); returns in the process that runs with it.

    Much of a national run's system time is the kernel giving it fresh pages: a page fault
    per 4 KiB where glibc's memory is not on huge pages (numpy asks for them for its own
    arrays; glibc's heap, which holds the classification's arrays, and the blocks it maps for
    numba's do not), each also work for the virtual machine's host. With the tunable a 5 M
    run has 0.78·10⁶ page faults instead of 1.39·10⁶, and eleven alternating pairs took 50.2
    s instead of 52.8 s on average (CPU 87.0 s instead of 90.7 s) at the same memory peak
    (docs/performance.md, "Twenty-fifth session"). glibc reads its tunables only when a
    program starts, hence the new start (~0.15 s, before anything but the standard library is
    imported).
    """
    value = tunables_with_huge_pages(os.environ, _libc_version())
    # A program read from standard input could not be read again; a set-id one (glibc
    # drops tunables there, so it would start again and again) gains nothing.
    if value is None or not sys.executable or sys.argv[0] in ("", "-") or _set_id():
        return
    os.environ["GLIBC_TUNABLES"] = value
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def main() -> None:
    """The ``bbplan`` console script."""
    with_huge_pages()
    few_malloc_arenas()
    from coverage.cli import main as cli_main

    cli_main()
