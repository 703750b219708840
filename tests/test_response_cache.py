"""The API's cache of encoded answers (api/cache.py): bounded, least recently used out first,
and never an answer made for one role handed to another."""

from __future__ import annotations

import gzip
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from test_api import BIG_CELL, HH, PLANNER, SMALL_CELL, TILE, make_settings, runs_dir  # noqa: F401

from api.app import create_app
from api.cache import ResponseCache, accepts_gzip


def test_second_call_is_served_from_the_cache():
    made: list[str] = []
    cache = ResponseCache(100)

    def make(text: str) -> Any:
        return lambda: made.append(text) or text.encode()

    assert cache.get_or_make("a", make("aaa")) == b"aaa"
    assert cache.get_or_make("a", make("zzz")) == b"aaa"  # not made again
    assert made == ["aaa"] and (cache.hits, cache.misses) == (1, 1)


def test_least_recently_used_goes_first_and_bytes_stay_bounded():
    cache = ResponseCache(10)
    for key in "abc":
        cache.get_or_make(key, lambda k=key: k.encode() * 4)  # 4 bytes each
    # a (4) + b (4) fit; c makes 12 > 10, so a, the oldest, went.
    assert len(cache) == 2 and cache.size_bytes == 8
    cache.get_or_make("b", lambda: b"xxxx")  # b used again: c is now the oldest
    cache.get_or_make("d", lambda: b"dddd")
    assert cache.get_or_make("b", lambda: b"new!") == b"bbbb"
    assert cache.get_or_make("c", lambda: b"new!") == b"new!"


def test_zero_size_keeps_nothing_and_too_large_bodies_are_not_kept():
    off = ResponseCache(0)
    assert off.get_or_make("a", lambda: b"1") == b"1"
    assert off.get_or_make("a", lambda: b"2") == b"2" and len(off) == 0
    small = ResponseCache(3)
    assert small.get_or_make("big", lambda: b"1234") == b"1234" and len(small) == 0


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 40),
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 12)), max_size=60),
)
def test_matches_a_brute_force_lru(max_bytes, calls):
    """Same answers and same contents as a plain list kept in use order."""
    cache = ResponseCache(max_bytes)
    model: list[tuple[int, bytes]] = []  # oldest first
    for key, size in calls:
        body = bytes([key]) * size
        got = cache.get_or_make(key, lambda b=body: b)
        hit = next((b for k, b in model if k == key), None)
        if hit is not None:
            assert got == hit
            model = [(k, b) for k, b in model if k != key] + [(key, hit)]
        else:
            assert got == body
            if size <= max_bytes:
                model.append((key, body))
                while sum(len(b) for _, b in model) > max_bytes:
                    model.pop(0)
        assert len(cache) == len(model)
        assert cache.size_bytes == sum(len(b) for _, b in model) <= max_bytes


@pytest.fixture(scope="module")
def clients(runs_dir):  # noqa: F811
    with (
        TestClient(create_app(make_settings(runs_dir))) as cached,
        TestClient(create_app(make_settings(runs_dir, response_cache_mb=0))) as uncached,
    ):
        yield cached, uncached


URLS = [
    f"/tiles/grid_250m/{TILE}.mvt",
    f"/tiles/addresses/{TILE}.mvt",
    "/layers/grid_250m",
    "/layers/addresses?limit=3&offset=1",
    "/areas/grid_250m?limit=2&offset=1",
    "/areas/grid_1km?format=geojson",
]


@pytest.mark.parametrize("url", URLS)
def test_cached_answers_equal_fresh_ones_for_every_role(clients, url):
    cached, uncached = clients
    for headers in (PLANNER, {}, PLANNER, {}):  # both roles, twice: the second from cache
        a, b = cached.get(url, headers=headers), uncached.get(url, headers=headers)
        assert a.status_code == b.status_code
        assert a.content == b.content


def test_a_planner_answer_is_never_served_to_the_public(clients):
    cached, _ = clients
    planner = cached.get(f"/tiles/grid_250m/{TILE}.mvt", headers=PLANNER)
    public = cached.get(f"/tiles/grid_250m/{TILE}.mvt")
    props = {
        f["properties"]["area_id"]: f["properties"]
        for f in mapbox_vector_tile.decode(public.content)["grid_250m"]["features"]
    }
    assert props[SMALL_CELL][f"{HH}__suppressed"] is True and "households" not in props[SMALL_CELL]
    assert props[BIG_CELL]["households"] == 10
    assert planner.content != public.content
    # Address tiles need a key even when a planner's answer is in the cache.
    assert cached.get(f"/tiles/addresses/{TILE}.mvt", headers=PLANNER).status_code == 200
    assert cached.get(f"/tiles/addresses/{TILE}.mvt").status_code == 401


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZip", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("deflate, br", False),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("*, gzip;q=0", False),  # a named coding overrides the wildcard
        ("gzip;q=bad", False),
    ],
)
def test_accepts_gzip_reads_the_header_with_its_qualities(header, expected):
    scope = {"type": "http", "headers": [(b"accept-encoding", header.encode())]}
    assert accepts_gzip(Request(scope)) is expected


@pytest.mark.parametrize("url", URLS)
def test_cached_bodies_are_kept_and_sent_gzip_compressed(runs_dir, url):  # noqa: F811
    with TestClient(create_app(make_settings(runs_dir))) as client:
        packed = client.get(url, headers={**PLANNER, "Accept-Encoding": "gzip"})
        plain = client.get(url, headers={**PLANNER, "Accept-Encoding": "identity"})
        kept = client.app.state.store.cached().responses  # type: ignore[attr-defined]
    assert packed.status_code == plain.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert packed.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert packed.content == plain.content  # httpx decompressed the first one
    # One entry, made once (the plain answer was decompressed from it), stored compressed.
    assert (len(kept), kept.misses, kept.hits) == (1, 1, 1)
    assert kept.size_bytes == int(packed.headers["content-length"])
    assert gzip.decompress(next(iter(kept._bodies.values()))) == plain.content
    # Two representations of one answer: two validators.
    assert packed.headers["etag"] != plain.headers["etag"]
    assert packed.headers["content-type"] == plain.headers["content-type"]
