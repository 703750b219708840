"""The Dask engine: the spatial step of the classification on a Dask cluster (SPEC §8).

Addresses are spatially partitioned with dask-geopandas (Hilbert order); each partition is
sent the network elements within the search radius of its convex hull (a halo), or the whole
network when it is small enough to broadcast. Each worker runs the same compiled kernel as
the in-memory engine (:func:`coverage.kernel.pareto_within`), so every address gets exactly
the candidates it gets in memory and the run is identical to an in-memory run.
Everything after the spatial step is array work on the candidates, done on the client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.classify import Pairs, order_pairs
from coverage.kernel import Offers, pareto_within

#: Networks with fewer elements than this are broadcast whole to every partition.
BROADCAST_MAX_ELEMENTS = 50_000

PairsFunction = Callable[[np.ndarray[Any, Any], np.ndarray[Any, Any], Offers, float], Pairs]


def _partition_pairs(
    xy: np.ndarray[Any, Any],
    positions: np.ndarray[Any, Any],
    elements_wkb: np.ndarray[Any, Any],
    element_ids: np.ndarray[Any, Any],
    offers: Offers,
    radius: float,
) -> pd.DataFrame:
    """Worker task: pairs of one partition, in global address and element positions
    (``offers`` are those of the elements sent, in their order)."""
    elements = shapely.from_wkb(elements_wkb)
    pi, ei, dist = pareto_within(xy, elements, offers, radius)
    return pd.DataFrame({"address": positions[pi], "element": element_ids[ei], "distance_m": dist})


def dask_pairs(client: Any, npartitions: int) -> PairsFunction:
    """A drop-in for :func:`coverage.classify.candidate_pairs` that runs on ``client``."""
    import dask_geopandas
    from dask.delayed import delayed

    def pairs(
        points: np.ndarray[Any, Any],
        elements: np.ndarray[Any, Any],
        offers: Offers,
        max_distance_m: float,
    ) -> Pairs:
        empty = np.zeros(0, dtype=np.int64)
        if len(points) == 0 or len(elements) == 0:
            return Pairs(empty, empty, np.zeros(0))
        # dask-geopandas partitions geometries: coordinates (the pipeline's) become points here.
        geoms = points if points.dtype == object else shapely.points(points)
        frame = gpd.GeoDataFrame({"pos": np.arange(len(points))}, geometry=geoms)
        parts = max(1, min(npartitions, len(points)))
        # Hilbert shuffle: each partition is a compact area; its hull is computed on the way.
        ddf = dask_geopandas.from_geopandas(frame, npartitions=parts).spatial_shuffle(by="hilbert")
        wkb = shapely.to_wkb(elements)
        ids_all = np.arange(len(elements))
        if len(elements) <= BROADCAST_MAX_ELEMENTS:
            [shared, shared_offers] = client.scatter([wkb, offers], broadcast=True)
            tasks = [
                delayed(_partition_task)(part, shared, ids_all, shared_offers, max_distance_m)
                for part in ddf.to_delayed()
            ]
        else:
            tree = shapely.STRtree(elements)
            hulls = ddf.spatial_partitions.to_numpy()
            tasks = []
            for hull, part in zip(hulls, ddf.to_delayed(), strict=True):
                ids = np.sort(tree.query(hull, predicate="dwithin", distance=max_distance_m))
                tasks.append(
                    delayed(_partition_task)(part, wkb[ids], ids, offers.take(ids), max_distance_m)
                )
        results = client.compute(tasks, sync=True)
        found = pd.concat(results, ignore_index=True)
        return order_pairs(
            found["address"].to_numpy(np.int64),
            found["element"].to_numpy(np.int64),
            found["distance_m"].to_numpy(float),
            offers.rank,
        )

    return pairs


def _partition_task(
    part: gpd.GeoDataFrame,
    wkb: np.ndarray[Any, Any],
    ids: np.ndarray[Any, Any],
    offers: Offers,
    radius: float,
) -> pd.DataFrame:
    """Worker task: the pairs of one partition against its halo (or the whole network)."""
    positions = part["pos"].to_numpy(np.int64)
    if len(positions) == 0 or len(ids) == 0:
        return pd.DataFrame(
            {"address": positions[:0], "element": positions[:0], "distance_m": np.zeros(0)}
        )
    return _partition_pairs(
        shapely.get_coordinates(part.geometry.to_numpy()), positions, wkb, ids, offers, radius
    )


@contextmanager
def dask_client(scheduler: str | None, workers: int = 2) -> Iterator[Any]:
    """A client for ``scheduler`` (address of a running cluster), or a local cluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
