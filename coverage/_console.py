"""The ``bbplan`` console script's entry point: glibc's malloc arenas are capped before the
CLI's modules (numpy, pandas, GEOS, numba…) are imported, then :func:`coverage.cli.main` runs.

Only the standard library is imported here (:mod:`coverage._memory` needs no more until
called): glibc fixes its arena limit for good once more than eight arenas exist, and a
``mallopt`` after that changes nothing, so the cap must come before anything that may start
threads.
"""

from __future__ import annotations

import os

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


def main() -> None:
    """The ``bbplan`` console script."""
    few_malloc_arenas()
    from coverage.cli import main as cli_main

    cli_main()
