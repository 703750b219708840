"""Gaps and what closing them costs (SPEC §5).

For each target, the addresses that fail it (in scope, holding units of its population) are
clustered by single linkage: two addresses belong to one cluster when a chain of addresses
with gaps of at most ``cluster_distance_m`` joins them. Per cluster:

* **trench length** = (minimum spanning tree over the cluster's addresses + the shortest link
  from the cluster to in-service fibre) x ``detour_factor``. Because clusters are single-linkage
  components at the same distance, the MST of the cluster's linkage graph *is* the Euclidean
  MST of its addresses (an MST edge longer than the threshold would join two parts already
  joined by shorter edges);
* **cost** = trench metres x cost per metre (urban when most of the cluster's units are in a
  tätort, else rural) + a connection cost per unit; **cost per unit** = cost / units.

The cheapest set of clusters that meets a target: in order of cost per unit, clusters that do
not by themselves complete the cover are taken; before each, "the clusters taken so far + the
single cheapest cluster that covers what is left" is priced, and the cheapest such candidate
wins (the modified greedy of Güntzer and Jungnickel for the minimum-cost covering knapsack).
Its cost is at most twice the optimum, and usually within a few per cent.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coverage._errors import SettingsError
from coverage._points import table_crs, table_xy
from coverage._text import is_increasing
from coverage._toml import read_toml
from coverage.areas import majority_label
from coverage.targets import Target, units

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COSTS = PACKAGE_ROOT / "gis_data" / "costs.toml"


class CostModel(BaseModel):
    """Unit costs in SEK (see gis_data/costs.toml for the documented defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trench_urban_sek_per_m: Annotated[float, Field(ge=0)] = 1200.0
    trench_rural_sek_per_m: Annotated[float, Field(ge=0)] = 400.0
    connection_sek_per_unit: Annotated[float, Field(ge=0)] = 15000.0
    detour_factor: Annotated[float, Field(ge=1)] = 1.3
    cluster_distance_m: Annotated[float, Field(gt=0)] = 250.0


def load_costs(path: Path | None = None) -> CostModel:
    """Cost model from a TOML file (any subset of fields), or the shipped defaults."""
    path = path or DEFAULT_COSTS
    data = read_toml(path, "cost", SettingsError)
    try:
        return CostModel.model_validate(data.get("costs", data))
    except ValidationError as exc:
        lines = "\n".join(f"  - {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"{path}: invalid cost model:\n{lines}") from None


#: Margin (m) round a gap cluster's addresses in its outline (the convex hull grown by it).
OUTLINE_MARGIN_M = 25.0


@dataclass(frozen=True)
class LinkageGraph:
    """Every pair of points within the cluster distance, in Kruskal's order
    (:func:`coverage.kernel.kruskal_order`). Made once for the addresses failing any target:
    a target's graph is the pairs of its own failing addresses, which keeps that order, so
    the pairs are found and sorted once for all targets."""

    a: np.ndarray[Any, np.dtype[np.int64]]
    b: np.ndarray[Any, np.dtype[np.int64]]
    d: np.ndarray[Any, np.dtype[np.float64]]

    @classmethod
    def of(cls, xy: np.ndarray[Any, Any], distance_m: float) -> LinkageGraph:
        """The graph of points ``xy`` (``(n, 2)``) joined within ``distance_m``."""
        from coverage.kernel import kruskal_order, pairs_within  # numba: only for gaps

        b, a, d = pairs_within(xy, None, distance_m)  # a < b
        order = kruskal_order(a, b, d)
        return cls(a[order], b[order], d[order])

    def clusters(
        self, subset: np.ndarray[Any, np.dtype[np.bool_]]
    ) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.float64]]]:
        """Single linkage of the points in ``subset``: each one's cluster and each cluster's
        minimum spanning tree length (clusters numbered by their first point)."""
        from coverage.kernel import subset_forest

        return subset_forest(subset, self.a, self.b, self.d)


def single_linkage(
    points: np.ndarray[Any, Any], distance_m: float
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """Cluster labels of single linkage at ``distance_m`` and each cluster's minimum spanning
    tree length (one compiled Kruskal pass over the linkage graph's edges)."""
    graph = LinkageGraph.of(shapely.get_coordinates(points), distance_m)
    return graph.clusters(np.ones(len(points), dtype=bool))


@dataclass(frozen=True)
class Gaps:
    """Clusters of failing addresses of every target, and the cheapest sets meeting targets."""

    clusters: gpd.GeoDataFrame
    selection: dict[str, dict[str, Any]]


def find_gaps(
    table: gpd.GeoDataFrame,
    targets: list[Target],
    fibre: gpd.GeoDataFrame,
    costs: CostModel,
    shortfalls: dict[str, int],
    fibre_distance_m: np.ndarray[Any, np.dtype[np.float64]] | None = None,
) -> Gaps:
    """Gap clusters, their cost, and the cheapest set per target.

    Parameters
    ----------
    table
        The run's address table (``pass_T``, ``reason_T``, ``urban_rural`` and unit columns):
        a GeoDataFrame of points, or the pipeline's table with its coordinates in
        :data:`coverage._points.XY_COLUMNS` (in the CRS of ``fibre``).
    targets
        Targets to plan for.
    fibre
        In-service fibre elements (the connection point of a new trench).
    costs
        Unit costs.
    shortfalls
        Units still missing per target (from the figures).
    fibre_distance_m
        Optional, per row of ``table``: the distance to the nearest element of ``fibre``
        where the classification found one within its search radius (its
        ``fibre_distance_m`` column, for the same in-service fibre), NaN elsewhere. Only the
        addresses without one are searched for their link to fibre (nationally a fifth of
        the failing addresses).
    """
    failing = {t.id: _failing(table, t) for t in targets}
    # What every target needs is measured once for the addresses failing any target: the
    # link to fibre and the pairs within the cluster distance.
    any_failing = np.logical_or.reduce(
        [f for f, _ in failing.values()] or [np.zeros(len(table), bool)]
    )
    xy = table_xy(table)[any_failing]
    link = np.full(len(table), np.nan)
    link[any_failing] = _distance_to_fibre(
        xy, fibre, None if fibre_distance_m is None else fibre_distance_m[any_failing]
    )
    graph = LinkageGraph.of(xy, costs.cluster_distance_m) if len(xy) else None
    frames = []
    selection = {}
    for t in targets:
        mask, weights = failing[t.id]
        subset = mask[any_failing]
        clusters = _clusters_of(
            table.loc[mask, _CLUSTER_COLUMNS],
            xy[subset],
            weights[mask],
            t,
            link[mask],
            graph.clusters(subset) if graph is not None and subset.any() else None,
            costs,
        )
        clusters = _select(clusters, shortfalls.get(t.id, 0))
        selection[t.id] = _selection_summary(clusters, shortfalls.get(t.id, 0))
        frames.append(clusters)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(_EMPTY))
    crs = table_crs(table, fibre.crs)
    return Gaps(gpd.GeoDataFrame(out, geometry="geometry", crs=crs, copy=False), selection)


def _failing(
    table: gpd.GeoDataFrame, t: Target
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Addresses failing ``t`` in its scope and holding units of its population; the units."""
    weights = units(table, t.population).to_numpy()
    mask = (
        ~table[f"pass_{t.id}"].to_numpy(dtype=bool)
        & (table[f"reason_{t.id}"] != "out_of_scope").to_numpy()
        & (weights > 0)
    )
    return mask, weights


#: What the clusters are made of: the address table has ~40 columns, a cluster needs these.
_CLUSTER_COLUMNS = [
    "address_id",
    "households",
    "workplaces",
    "public_site",
    "kommun_code",
    "urban_rural",
]

_EMPTY = {
    "target_id": "",
    "cluster_id": "",
    "addresses": 0,
    "units": 0,
    "households": 0,
    "workplaces": 0,
    "public_sites": 0,
    "kommun_code": "",
    "urban": False,
    "mst_m": 0.0,
    "link_m": 0.0,
    "trench_m": 0.0,
    "cost_sek": 0.0,
    "cost_per_unit_sek": 0.0,
    "selected": False,
    "selection_rank": 0,
    "geometry": None,
}


def _clusters_of(
    sub: pd.DataFrame,
    xy: np.ndarray[Any, Any],
    weights: np.ndarray[Any, Any],
    target: Target,
    link: np.ndarray[Any, Any],
    linkage: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None,
    costs: CostModel,
) -> pd.DataFrame:
    """One row per gap cluster, every column computed for all clusters at once (``xy``: the
    addresses' coordinates; ``link``: each one's distance to in-service fibre; ``linkage``:
    labels and tree lengths of their single linkage)."""
    if len(sub) == 0 or linkage is None:
        return pd.DataFrame(columns=list(_EMPTY))
    labels, mst = linkage
    n = len(mst)
    link_m = pd.Series(link).groupby(labels).min().to_numpy()  # NaN only when no fibre at all
    trench = (mst + np.nan_to_num(link_m)) * costs.detour_factor
    w = weights.astype(np.int64)
    total = np.bincount(labels, weights=w, minlength=n)
    urban_units = np.bincount(labels, weights=w * (sub["urban_rural"] == "tatort"), minlength=n)
    urban = urban_units * 2 > total
    per_m = np.where(urban, costs.trench_urban_sek_per_m, costs.trench_rural_sek_per_m)
    cost = trench * per_m + costs.connection_sek_per_unit * total
    # The cluster's kommun: the one holding most of its addresses, the lowest code on ties.
    kommun = majority_label(labels, sub["kommun_code"].astype(str).to_numpy())
    frame = pd.DataFrame(
        {
            "target_id": target.id,
            "first_address": _first_address(sub["address_id"], labels, n),
            "addresses": np.bincount(labels, minlength=n),
            "units": total.astype(np.int64),
            "households": np.bincount(labels, weights=sub["households"], minlength=n).astype(
                np.int64
            ),
            "workplaces": np.bincount(labels, weights=sub["workplaces"], minlength=n).astype(
                np.int64
            ),
            "public_sites": np.bincount(
                labels, weights=(sub["public_site"] != "").to_numpy(), minlength=n
            ).astype(np.int64),
            "kommun_code": kommun,
            "urban": urban,
            "mst_m": mst,
            "link_m": link_m,
            "trench_m": trench,
            "cost_sek": cost,
            "cost_per_unit_sek": cost / total,
            "geometry": _outlines(xy, labels, n),
        }
    )
    # Stable ids: by the cluster's lowest address id, so reruns and row order give the same ids.
    frame = frame.sort_values("first_address", kind="stable").reset_index(drop=True)
    frame["cluster_id"] = [f"{target.id}:{i + 1:04d}" for i in range(len(frame))]
    return frame.drop(columns="first_address")


def _first_address(ids: pd.Series, labels: np.ndarray[Any, Any], n: int) -> np.ndarray[Any, Any]:
    """Each cluster's lowest address id, or, when the ids are in order (as the pipeline's
    table is), the position of its first address: the same order of clusters, without
    grouping 10⁶ strings (0.8 s for a national target)."""
    text = isinstance(ids.dtype, pd.StringDtype)  # numbers in order are not in text order
    if text and is_increasing(ids):  # (no missing id)
        first = np.full(n, len(ids), dtype=np.int64)
        np.minimum.at(first, labels, np.arange(len(ids), dtype=np.int64))
        return first
    return pd.Series(ids.astype(str).to_numpy()).groupby(labels).min().to_numpy()


def _outlines(
    xy: np.ndarray[Any, Any], labels: np.ndarray[Any, Any], n: int
) -> np.ndarray[Any, Any]:
    """Each cluster's convex hull grown by :data:`OUTLINE_MARGIN_M` (as ``shapely.buffer``).

    Half the clusters of a national run are one address: their circle is GEOS's circle round
    the origin moved to the address (the same coordinates to the last bit: GEOS adds
    ``r·cos θ`` to ``x`` too), made at once 4x faster than buffering the points."""
    from coverage._buffer import hull_buffers  # numba: only for gaps
    from coverage._cells import stable_order
    from coverage.kernel import inner_points

    by_label = stable_order(labels)  # shapely wants the parts' indices sorted
    single = np.bincount(labels, minlength=n) == 1
    out = np.empty(n, dtype=object)
    one = single[labels[by_label]]
    circle = shapely.get_coordinates(shapely.buffer(shapely.Point(0.0, 0.0), OUTLINE_MARGIN_M))
    k = len(circle)
    centres = xy[by_label[one]]  # the clusters' only addresses, in cluster order
    out[single] = shapely.from_ragged_array(
        shapely.GeometryType.POLYGON,
        (centres[:, None, :] + circle[None, :, :]).reshape(-1, 2),
        (np.arange(len(centres) + 1) * k, np.arange(len(centres) + 1)),
    )
    part = (np.cumsum(~single) - 1)[labels[by_label[~one]]]  # clusters of several, 0..m-1
    pts = xy[by_label[~one]]
    # Points that cannot be hull vertices are left out first, and the others handed to GEOS
    # as the vertices of a line string: a multipoint would be a point object for each
    # (1.6 s for a national target's 1.5·10⁶, 1 s for the 5·10⁵ left). GEOS's hull depends
    # only on the coordinates and their order, and each cluster keeps two or more (its
    # extreme points are never inside).
    inner = inner_points(pts, np.searchsorted(part, np.arange(int((~single).sum()) + 1)))
    hulls = shapely.convex_hull(shapely.linestrings(pts[~inner], indices=part[~inner]))
    out[~single] = hull_buffers(hulls, OUTLINE_MARGIN_M)  # as shapely.buffer, 4x faster
    return out


def _distance_to_fibre(
    xy: np.ndarray[Any, Any],
    fibre: gpd.GeoDataFrame,
    known_m: np.ndarray[Any, np.dtype[np.float64]] | None = None,
) -> np.ndarray[Any, Any]:
    """Distance from each point (``(n, 2)``) to the nearest in-service fibre element (NaN
    without fibre); where ``known_m`` has a distance (the nearest within a search radius),
    that one."""
    from coverage.kernel import nearest_any  # numba: only when gaps are computed

    if len(fibre) == 0 or len(xy) == 0:
        return np.full(len(xy), np.nan)
    out = np.array(known_m, dtype=np.float64) if known_m is not None else np.full(len(xy), np.nan)
    # The nearest within a radius is the nearest of all: only the others are searched
    # (the same compiled distance, so the same bits).
    rest = np.flatnonzero(np.isnan(out))
    if len(rest):
        # Distances equal to a nanometre tie, and the first in `fibre` wins: the pipeline's
        # fibre is in segment-id order, the classification's tie-break, so a searched
        # distance has the bits a known one would have.
        ranks = np.arange(len(fibre), dtype=np.int64)
        out[rest] = nearest_any(xy[rest], fibre.geometry.to_numpy(), ranks)[1]
    return out


def _select(clusters: pd.DataFrame, shortfall: int) -> pd.DataFrame:
    """Mark the cheapest set covering ``shortfall`` units (see module doc for the rule)."""
    out = clusters.copy()
    out["selected"] = False
    out["selection_rank"] = 0
    if shortfall <= 0 or len(out) == 0:
        return out
    ids = out["cluster_id"].to_numpy().astype(str)
    u = out["units"].to_numpy()
    c = out["cost_sek"].to_numpy(dtype=float)
    by_ratio = np.lexsort((ids, c / u))  # greedy order
    by_cost = np.lexsort((ids, c))  # for "cheapest single cluster covering the rest"
    n = len(out)
    # The loop below runs once per cluster (10⁵ a target nationally): Python lists index
    # several times faster than numpy arrays one scalar at a time.
    units_of, cost_of = u.tolist(), c.tolist()
    cost_order = by_cost.tolist()
    cost_pos = [0] * n
    for pos, k in enumerate(cost_order):
        cost_pos[k] = pos
    # Clusters covering what is left, cheapest first: a heap on the by-cost position. What is
    # left only shrinks, so clusters are admitted once, biggest first; taken ones are skipped
    # when they reach the top. O(n log n) where rescanning all clusters per step was O(n²).
    by_units = np.argsort(-u, kind="stable").tolist()
    heap: list[int] = []
    admitted = 0
    chosen = [False] * n
    taken: list[int] = []
    best: tuple[int, int] | None = None  # (greedy clusters kept, completing cluster)
    best_cost = np.inf
    covered, spent = 0, 0.0
    for i in [*by_ratio.tolist(), None]:  # None: one last completion after the last step
        remaining = shortfall - covered
        while admitted < n and units_of[by_units[admitted]] >= remaining:
            heapq.heappush(heap, cost_pos[by_units[admitted]])
            admitted += 1
        while heap and chosen[cost_order[heap[0]]]:
            heapq.heappop(heap)
        # Candidate: the clusters taken so far plus the cheapest one that covers the rest.
        if heap:
            j = cost_order[heap[0]]
            if spent + cost_of[j] < best_cost:
                best_cost = spent + cost_of[j]
                best = (len(taken), j)
        # Only clusters that do not complete the cover are taken greedily; a completing
        # cluster is priced above as a completion (this is what bounds the cost by 2x).
        if i is not None and units_of[i] < remaining:
            chosen[i] = True
            taken.append(i)
            covered += int(units_of[i])
            spent += cost_of[i]
    # No candidate at all: even every cluster together falls short, so all are taken.
    final = np.ones(n, dtype=bool)
    if best is not None:
        final[:] = False
        final[taken[: best[0]]] = True
        final[best[1]] = True
    ranked = [k for k in by_ratio if final[k]]
    out.loc[out.index[ranked], "selected"] = True
    out.loc[out.index[ranked], "selection_rank"] = np.arange(1, len(ranked) + 1)
    return out


def _selection_summary(clusters: pd.DataFrame, shortfall: int) -> dict[str, Any]:
    chosen = clusters[clusters["selected"]] if len(clusters) else clusters
    units_sel = int(chosen["units"].sum()) if len(chosen) else 0
    return {
        "shortfall_units": int(shortfall),
        "clusters": len(clusters),
        "selected_clusters": len(chosen),
        "selected_units": units_sel,
        "selected_cost_sek": float(chosen["cost_sek"].sum()) if len(chosen) else 0.0,
        "meets_target": units_sel >= shortfall,
    }
