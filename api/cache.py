"""Encoded answers of one run, kept for the next caller who asks the same.

A run folder is immutable, so a vector tile or a page of areas, once encoded, is the answer
for every later request with the same parameters and role. On a national run one 250 m
tile or a page of 1,000 areas costs 15-95 ms of CPU in one process, and every light request
waits behind it; from this cache it costs a dictionary lookup. The cache is bounded in bytes
(``BBPLAN_RESPONSE_CACHE_MB``, 0 switches it off) and drops the least recently used answer
first. It lives in the run's :class:`~api.store.RunData`, so it goes when the run does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class ResponseCache:
    """Least-recently-used encoded bodies, at most ``max_bytes`` in total.

    Parameters
    ----------
    max_bytes
        Bound on the summed body sizes; 0 keeps nothing (every call encodes).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._bodies)

    def get_or_make(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """The body cached under ``key``, or ``make()``'s, kept when it fits.

        ``make`` runs outside the lock: two requests racing for the same new key both encode
        (the same bytes), and neither blocks the other's unrelated requests meanwhile.
        """
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
                self.hits += 1
                return body
            self.misses += 1
        body = make()
        if len(body) > self.max_bytes:
            return body
        with self._lock:
            if key not in self._bodies:
                self._bodies[key] = body
                self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, old = self._bodies.popitem(last=False)
                self._bytes -= len(old)
        return body
