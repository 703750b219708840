"""The ``bbplan`` console script's entry point: glibc's malloc is set up before the CLI's
modules (numpy, pandas, GEOS, numba…) are imported — its blocks on transparent huge pages
(which glibc reads only at start, so the script starts its command again once) and its
arenas capped — then :func:`coverage.cli.main` runs. :func:`main` is meant to be the
program's entry point.

Only the standard library is imported here (:mod:`coverage._memory` needs no more until
called): glibc fixes its arena limit for good once more than eight arenas exist, and a
``mallopt`` after that changes nothing, so the cap must come before anything that may start
threads.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from coverage._memory import _libc, mallopt

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
#: Set for the started-again command only (and removed as it starts): it never starts a
#: third time, whatever glibc makes of the tunable.
_STARTED_AGAIN = "_BBPLAN_MALLOC_STARTED_AGAIN"
#: The kernel's transparent huge page mode; glibc's tunable acts only in ``madvise`` mode.
_THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled"
#: ``getauxval``'s key for glibc's secure mode (set-id, file capabilities…), elf.h.
_AT_SECURE = 23


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


def _thp_on_request() -> bool:
    """Whether the kernel gives transparent huge pages to memory that asks for them
    (``madvise`` mode): with ``always`` glibc's memory has them already, with ``never``
    nobody does; glibc ignores the tunable in both."""
    try:
        return "[madvise]" in Path(_THP_MODE).read_text(encoding="ascii")
    except OSError:  # not Linux, or no transparent huge pages
        return False


def _secure() -> bool:
    """Whether glibc runs this process in secure mode (set-id, file capabilities, a security
    module's transition), where it drops tunables from the environment."""
    getauxval = _libc("getauxval")
    if getauxval is None:
        return False
    # Its value is 0 or 1: the default (int) result type holds it.
    return bool(getauxval(ctypes.c_ulong(_AT_SECURE)))


def _started_for_this_command() -> bool:
    """Whether the interpreter was started for this command, its arguments last: a script
    (the ``bbplan`` console script) or a ``-c`` program. Not a program that calls
    :func:`main` in passing (a notebook kernel, ``-m``, standard input), which starting
    again would run again from its beginning."""
    argv, given = sys.argv, sys.orig_argv
    if not argv or not sys.executable or argv[0] in ("", "-"):
        return False
    if argv[0] == "-c":  # given: …, "-c", the program, its arguments
        n = len(argv)
        return len(given) > n and given[-n - 1] == "-c" and given[len(given) - n + 1 :] == argv[1:]
    return given[len(given) - len(argv) :] == argv


def with_huge_pages() -> None:
    """Start this process's command again (same pid, interpreter options and arguments) with
    :data:`HUGE_PAGES_TUNABLE` in ``GLIBC_TUNABLES``, once, where that changes anything:
    glibc 2.35 or later with the user's tunables leaving it unset
    (:func:`tunables_with_huge_pages`), the kernel's huge pages on request
    (:func:`_thp_on_request`), not in secure mode (:func:`_secure`), the interpreter started
    for this command (:func:`_started_for_this_command`). Returns in the process that runs
    with it, or at once; if the new start fails, the command goes on as it is.

    Much of a national run's system time is the kernel giving it fresh pages: a page fault
    per 4 KiB where glibc's memory is not on huge pages (numpy asks for them for its own
    arrays; glibc's heap, which holds the classification's arrays, and the blocks it maps for
    numba's do not), each also work for the virtual machine's host. With the tunable a 5 M
    run has 0.78·10⁶ page faults instead of 1.39·10⁶ and a few per cent less CPU
    (docs/performance.md, "Twenty-fifth session"). glibc reads its tunables only when a
    program starts, hence the new start: ~0.15 s, most of it importing the package's settings
    (pydantic) before this runs.
    """
    if os.environ.pop(_STARTED_AGAIN, None) is not None:
        return
    value = tunables_with_huge_pages(os.environ, _libc_version())
    if value is None or not _thp_on_request() or _secure() or not _started_for_this_command():
        return
    environ = {**os.environ, "GLIBC_TUNABLES": value, _STARTED_AGAIN: "1"}
    with suppress(OSError):  # if it fails, the command goes on as it is, without huge pages
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)


def main() -> None:
    """The ``bbplan`` console script."""
    with_huge_pages()
    few_malloc_arenas()
    from coverage.cli import main as cli_main

    cli_main()
