"""Encoded answers of one run, kept for the next caller who asks the same.

A run folder is immutable, so a vector tile or a page of areas, once encoded, is the answer
for every later request with the same parameters and role. On a national run one 250 m
tile or a page of 1,000 areas costs 15-95 ms of CPU in one process, and every light request
waits behind it; from this cache it costs a dictionary lookup. The cache is bounded in bytes
(``BBPLAN_RESPONSE_CACHE_MB``, 0 switches it off) and drops the least recently used answer
first. It lives in the run's :class:`~api.store.RunData`, so it goes when the run does.

Bodies are kept gzip-compressed (:func:`cached_response`): compressed once on the worker
thread that encoded them, instead of by the GZip middleware on every request, which runs on
the event loop for bodies under 128 KiB and holds up every light request meanwhile. Compressed
bodies also fit several times more answers in the same memory.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from fastapi import Request, Response

#: The GZip middleware's level and smallest body it compresses (api.app uses both).
GZIP_LEVEL = 6
GZIP_MIN_BYTES = 1000


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


def accepts_gzip(request: Request) -> bool:
    """Whether the caller's ``Accept-Encoding`` allows gzip: named, or ``*``, with a quality
    above 0 (``gzip;q=0`` refuses it; a named coding overrides ``*``)."""
    quality: dict[str, float] = {}
    for item in request.headers.get("accept-encoding", "").lower().split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            quality[coding] = float(q)
        except ValueError:
            quality[coding] = 0.0
    return quality.get("gzip", quality.get("*", 0.0)) > 0


def cached_response(
    request: Request,
    cache: ResponseCache,
    key: Hashable,
    make: Callable[[], bytes],
    media_type: str,
) -> Response:
    """The answer under ``key``, made, compressed and kept on a miss; sent compressed when the
    caller accepts gzip, else decompressed. An empty body stays empty (204 for an empty tile).

    The GZip middleware leaves a response that already has a ``Content-Encoding`` alone.
    """

    def make_compressed() -> bytes:
        body = make()
        # mtime=0: the same answer gives the same bytes (and the same ETag) on every server.
        return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0) if body else b""

    packed = cache.get_or_make(key, make_compressed)
    if not packed:
        return Response(status_code=204)
    if accepts_gzip(request):
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return Response(packed, media_type=media_type, headers=headers)
    body = gzip.decompress(packed)
    # The middleware marks the bodies it would have compressed itself; the rest are marked here.
    vary = {"Vary": "Accept-Encoding"} if len(body) < GZIP_MIN_BYTES else {}
    return Response(body, media_type=media_type, headers=vary)
