"""The Dask engine gives runs identical to the in-memory engine (LocalCluster of 2 workers)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import make_addresses, make_network
from geopandas.testing import assert_geodataframe_equal

import coverage.distributed as dist
from coverage.classify import Classifier, candidate_pairs
from coverage.cli import DEFAULT_ADDRESSES, DEFAULT_NETWORKS, DEFAULT_TARGETS
from coverage.pipeline import Inputs, compute
from coverage.runs import write_run
from coverage.settings import CoverageSettings


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def test_demo_run_is_identical_on_dask(cluster, tmp_path: Path) -> None:
    inputs = Inputs(addresses=DEFAULT_ADDRESSES, networks=DEFAULT_NETWORKS, targets=DEFAULT_TARGETS)
    when = date(2026, 6, 1)
    folders = []
    for engine, sub in (("memory", "a"), ("dask", "b")):
        result = compute(
            inputs,
            CoverageSettings(),
            when,
            engine=engine,
            scheduler=cluster.scheduler_address if engine == "dask" else None,
            partitions=4,
        )
        folders.append(write_run(result, tmp_path / sub, run_id="same"))
    mem, dsk = folders
    assert_geodataframe_equal(
        gpd.read_parquet(mem / "addresses.parquet"), gpd.read_parquet(dsk / "addresses.parquet")
    )
    assert json.loads((mem / "figures.json").read_text()) == json.loads(
        (dsk / "figures.json").read_text()
    )
    assert json.loads((mem / "timeline.json").read_text()) == json.loads(
        (dsk / "timeline.json").read_text()
    )


@pytest.mark.parametrize("broadcast_max", [10, 1_000_000])  # halo per partition, or broadcast
def test_generated_scene_pairs_are_identical(cluster, monkeypatch, broadcast_max: int) -> None:
    from distributed import Client

    rng = np.random.default_rng(5)
    pts = [tuple(p) for p in rng.uniform(-3000, 3000, size=(3000, 2))]
    starts = rng.uniform(-3000, 3000, size=(400, 2))
    ends = starts + rng.normal(0, 200, size=(400, 2))
    net = make_network(
        [
            {"coords": [tuple(a), tuple(b)], "segment_id": f"S{i:04d}"}
            for i, (a, b) in enumerate(zip(starts, ends, strict=True))
        ]
    )
    addr = make_addresses(pts)
    points = addr.geometry.to_numpy()
    elements = net.geometry.to_numpy()
    offers = Classifier(addr, net, CoverageSettings()).offers("fibre", np.arange(len(net)))
    monkeypatch.setattr(dist, "BROADCAST_MAX_ELEMENTS", broadcast_max)
    with Client(cluster.scheduler_address) as client:
        got = dist.dask_pairs(client, npartitions=6)(points, elements, offers, 250.0)
    want = candidate_pairs(points, elements, offers, 250.0)
    assert len(want.address) > 1000
    np.testing.assert_array_equal(got.address, want.address)
    np.testing.assert_array_equal(got.element, want.element)
    np.testing.assert_array_equal(got.distance_m, want.distance_m)
    assert shapely.get_num_geometries(points).sum() == 3000
