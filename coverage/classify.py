"""Per-address classification: nearest in-service element per technology, access, speed (SPEC §3).

The spatial work is one bulk STRtree ``dwithin`` query per technology over *all* elements,
whatever their status or year. The candidate pairs are sorted once by (address, distance,
segment rank); the nearest element in service at any year is then the first pair that is in
service, so a timeline over many years costs one spatial query, not one per year. Ties in
distance go to the lowest ``segment_id``, which makes results independent of row order and of
the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.schema import TECHNOLOGIES
from coverage.settings import CoverageSettings

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

#: Service year of existing elements: in service at any evaluation year.
ALWAYS = np.iinfo(np.int64).min

#: Status of one technology's offer at an address.
OFFER_STATUSES = ("connected", "passed", "near", "none")


@dataclass(frozen=True)
class Pairs:
    """Address/element candidate pairs within the search radius, sorted for nearest lookups.

    ``address`` and ``element`` are positions (into the address and network frames), sorted
    by (address, distance, segment rank) so the first in-service pair of an address is its
    nearest in-service element.
    """

    address: IntArray
    element: IntArray
    distance_m: FloatArray


def service_year(network: pd.DataFrame) -> IntArray:
    """First evaluation year each element is in service: existing always, others from ``year``."""
    years = network["year"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    existing = network["status"].to_numpy() == "existing"
    out = np.where(existing | np.isnan(years), ALWAYS, np.nan_to_num(years, nan=0)).astype(np.int64)
    return out


def segment_rank(network: pd.DataFrame) -> IntArray:
    """Rank of each element's ``segment_id`` in string order (the tie-break key)."""
    ids = network["segment_id"].astype(str).to_numpy()
    order = np.argsort(ids, kind="stable")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank


def candidate_pairs(
    points: np.ndarray[Any, np.dtype[np.object_]],
    elements: np.ndarray[Any, np.dtype[np.object_]],
    rank: IntArray,
    max_distance_m: float,
) -> Pairs:
    """All (point, element) pairs within ``max_distance_m``, sorted for nearest lookups.

    Parameters
    ----------
    points, elements
        Shapely geometries in a projected CRS (metres).
    rank
        Tie-break key per element (lower wins at equal distance).
    max_distance_m
        Search radius.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(points) == 0 or len(elements) == 0:
        return Pairs(empty, empty, np.zeros(0))
    tree = shapely.STRtree(elements)
    pi, ei = tree.query(points, predicate="dwithin", distance=max_distance_m)
    dist = shapely.distance(points[pi], elements[ei])
    order = np.lexsort((rank[ei], dist, pi))
    return Pairs(pi[order].astype(np.int64), ei[order].astype(np.int64), dist[order])


def nearest_in_service(
    pairs: Pairs, element_year: IntArray, year: int, n_points: int
) -> tuple[IntArray, FloatArray]:
    """Nearest element in service at ``year`` per point: (position or -1, distance or NaN)."""
    keep = element_year[pairs.element] <= year
    pi, ei, d = pairs.address[keep], pairs.element[keep], pairs.distance_m[keep]
    first = np.ones(len(pi), dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    idx = np.full(n_points, -1, dtype=np.int64)
    dist = np.full(n_points, np.nan)
    idx[pi[first]] = ei[first]
    dist[pi[first]] = d[first]
    return idx, dist


@dataclass(frozen=True)
class Offers:
    """What each technology offers every address at one evaluation year.

    Each mapping is keyed by technology; arrays are aligned with the addresses.
    ``status`` holds codes into :data:`OFFER_STATUSES` (0 connected … 3 none).
    """

    year: int
    status: dict[str, np.ndarray[Any, np.dtype[np.int8]]]
    distance_m: dict[str, FloatArray]
    down_mbps: dict[str, FloatArray]
    upgradeable_to_mbps: dict[str, FloatArray]
    open_network: dict[str, BoolArray]
    element: dict[str, IntArray]


class Classifier:
    """Classify a fixed set of addresses against a network at any evaluation year.

    The spatial query runs once, in the constructor; :meth:`offers` and :meth:`classify`
    are cheap array work per year.
    """

    def __init__(
        self,
        addresses: gpd.GeoDataFrame,
        network: gpd.GeoDataFrame,
        settings: CoverageSettings,
        extra_radius_m: float = 0.0,
    ) -> None:
        """``extra_radius_m`` widens the search so that other distance rules (the sensitivity
        of the homes-passed distance) can be evaluated later without a new spatial query."""
        _check_crs(addresses, network)
        self.settings = settings
        self.n = len(addresses)
        self.connected = addresses["connected"].to_numpy(dtype=bool)
        self.network = network
        self.element_year = service_year(network)
        rank = segment_rank(network)
        points = addresses.geometry.to_numpy()
        techs = network["technology"].to_numpy()
        self.pairs: dict[str, Pairs] = {}
        self.positions: dict[str, IntArray] = {}
        for tech in TECHNOLOGIES:
            pos = np.flatnonzero(techs == tech).astype(np.int64)
            radius = max(settings.query_distance_m(tech), extra_radius_m)
            sub = candidate_pairs(points, network.geometry.to_numpy()[pos], rank[pos], radius)
            # Back to positions in the whole network frame.
            self.pairs[tech] = Pairs(sub.address, pos[sub.element], sub.distance_m)
            self.positions[tech] = pos
        self._down = network["max_down_mbps"].to_numpy(dtype=float, na_value=np.nan)
        self._upgr = network["upgradeable_to_mbps"].to_numpy(dtype=float, na_value=np.nan)
        self._open = network["open_network"].to_numpy(dtype=bool)

    def plan_years(self, after_year: int) -> list[int]:
        """Years after ``after_year`` in which some element enters service (the build plan)."""
        years = self.element_year[self.element_year != ALWAYS]
        return sorted(int(y) for y in np.unique(years) if y > after_year)

    def offers(self, year: int, settings: CoverageSettings | None = None) -> Offers:
        """Every technology's offer to every address at ``year`` (optionally under other
        distance rules, within the search radius given at construction)."""
        rules = settings or self.settings
        out: dict[str, dict[str, Any]] = {
            k: {} for k in ("status", "distance_m", "down", "upgr", "open", "element")
        }
        for tech in TECHNOLOGIES:
            idx, dist = nearest_in_service(self.pairs[tech], self.element_year, year, self.n)
            status, down, upgr, is_open = self._offer(tech, idx, dist, rules)
            out["status"][tech] = status
            out["distance_m"][tech] = dist
            out["down"][tech] = down
            out["upgr"][tech] = upgr
            out["open"][tech] = is_open
            out["element"][tech] = idx
        return Offers(
            year=year,
            status=out["status"],
            distance_m=out["distance_m"],
            down_mbps=out["down"],
            upgradeable_to_mbps=out["upgr"],
            open_network=out["open"],
            element=out["element"],
        )

    def _offer(
        self, tech: str, idx: IntArray, dist: FloatArray, rules: CoverageSettings
    ) -> tuple[np.ndarray[Any, np.dtype[np.int8]], FloatArray, FloatArray, BoolArray]:
        profile = rules.technologies[tech]
        found = idx >= 0
        safe = np.where(found, idx, 0)
        with np.errstate(invalid="ignore"):
            served = found & (dist <= rules.service_distance_m(tech))
            near = found & ~served & (dist <= rules.near_distance_m)
        status = np.full(self.n, 3, dtype=np.int8)
        if profile.provides_service:
            status[near] = 2
            status[served] = 1
        elif found.any():
            status[near | served] = 2  # a duct is never service: at most "near"
        base = np.where(found, self._down[safe], np.nan)
        base = np.where(np.isnan(base), profile.down_mbps, base)
        if profile.speed_curve is not None:
            xs, ys = zip(*profile.speed_curve, strict=True)
            base = np.minimum(base, np.interp(np.nan_to_num(dist, nan=0.0), xs, ys))
        upgr = np.where(found, self._upgr[safe], np.nan)
        upgr = np.where(np.isnan(upgr), profile.upgradeable_to_mbps, upgr)
        is_open = found & self._open[safe]
        if tech == "fibre":
            # An active fibre connection (anslutna) outranks homes passed, wherever the route is.
            status[self.connected] = 0
        down = np.where(found | ((tech == "fibre") & self.connected), base, 0.0)
        return status, down.astype(float), upgr.astype(float), is_open

    def classify(self, year: int) -> pd.DataFrame:
        """Per-address summary at ``year`` (index 0..n-1, aligned with the addresses)."""
        return summarise(self.offers(year), self.network, self.settings)


def summarise(offers: Offers, network: pd.DataFrame, settings: CoverageSettings) -> pd.DataFrame:
    """Best offer, access class, gigabit readiness and open network per address.

    The best offer is the highest speed among technologies at connected/passed status; ties
    go to the higher upgradeable speed, then to an open network, then to the shorter
    distance, then to the technology order fibre, hfc, vdsl, fwa.
    """
    n = len(next(iter(offers.status.values())))
    best = np.full(n, -1, dtype=np.int64)
    b_speed = np.full(n, -1.0)
    b_upgr = np.full(n, -1.0)
    b_open = np.zeros(n, dtype=bool)
    b_dist = np.full(n, np.inf)
    gigabit = np.zeros(n, dtype=bool)
    serving = [t for t in TECHNOLOGIES if settings.technologies[t].provides_service]
    for k, tech in enumerate(serving):
        served = offers.status[tech] <= 1
        speed, upgr = offers.down_mbps[tech], offers.upgradeable_to_mbps[tech]
        is_open, dist = offers.open_network[tech], np.nan_to_num(offers.distance_m[tech], nan=0.0)
        better = served & (
            (speed > b_speed)
            | ((speed == b_speed) & (upgr > b_upgr))
            | ((speed == b_speed) & (upgr == b_upgr) & is_open & ~b_open)
            | ((speed == b_speed) & (upgr == b_upgr) & (is_open == b_open) & (dist < b_dist))
        )
        best[better] = k
        b_speed[better], b_upgr[better] = speed[better], upgr[better]
        b_open[better], b_dist[better] = is_open[better], dist[better]
        gigabit |= served & (upgr >= settings.gigabit_mbps)
    statuses = np.stack([offers.status[t] for t in serving])
    access_code = statuses.min(axis=0)
    access = np.asarray(OFFER_STATUSES, dtype=object)[access_code]
    technology = np.where(best >= 0, np.asarray(serving, dtype=object)[np.maximum(best, 0)], "")
    distance = _summary_distance(offers, serving, best, settings)
    element = np.full(n, -1, dtype=np.int64)
    for k, tech in enumerate(serving):
        element[best == k] = offers.element[tech][best == k]
    seg_ids = network["segment_id"].to_numpy(dtype=object)
    frame = pd.DataFrame(
        {
            "access": access,
            "technology": technology,
            "distance_m": distance,
            "max_down_mbps": np.where(best >= 0, b_speed, 0.0),
            "upgradeable_to_mbps": np.where(best >= 0, b_upgr, 0.0),
            "gigabit_ready": gigabit,
            "open_network": b_open & (best >= 0),
            "segment_id": np.where(
                element >= 0, seg_ids[np.maximum(element, 0)] if len(seg_ids) else "", ""
            ),
        }
    )
    for tech in TECHNOLOGIES:
        frame[f"{tech}_distance_m"] = offers.distance_m[tech]
    return frame


def _summary_distance(
    offers: Offers, serving: list[str], best: IntArray, settings: CoverageSettings
) -> FloatArray:
    """Distance to the best offer's element, else to the nearest serving element within 'near'."""
    n = len(best)
    out = np.full(n, np.nan)
    nearest = np.full(n, np.inf)
    for k, tech in enumerate(serving):
        d = offers.distance_m[tech]
        out[best == k] = d[best == k]
        nearest = np.fmin(nearest, d)
    fallback = (best < 0) & (nearest <= settings.near_distance_m)
    out[fallback] = nearest[fallback]
    return out


def _check_crs(addresses: gpd.GeoDataFrame, network: gpd.GeoDataFrame) -> None:
    if addresses.crs is None or network.crs is None or addresses.crs != network.crs:
        raise ValueError(
            f"addresses ({addresses.crs}) and network ({network.crs}) must share one projected CRS"
        )
    if addresses.crs.is_geographic:
        raise ValueError(f"distances need a projected CRS, got geographic {addresses.crs}")
