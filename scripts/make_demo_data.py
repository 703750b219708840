#!/usr/bin/env python3
"""Generate the seeded, reproducible demo municipality Smedjebacken (kommun 2061) for bbplan.

REAL inputs (SCB open data, CC0), read from ``gis_data/``:

* the populated 1 km squares 2025 of Dalarna (``befolkning_1km_2025_dalarna.geojson``),
  filtered to kommunkod 2061: 274 squares, 10,855 persons;
* the SCB tätort points 2020 (``tatorter_2020_points_sweref99tm.gpkg``), 5 tätorter in 2061;
* the (generalised) SCB kommun polygon of 2061, used to keep addresses inside the kommun;
* the SCB fritidshusområden 2020 that intersect the kommun (one area, 2061F103).

Everything else is GENERATED from ``numpy.random.default_rng(seed)``: every address point, its
street address and postcode, the split of households / workplaces / holiday homes over the
points, the public sites, the ``connected`` flags, and every network segment and node.

Main assumptions (see ``gis_data/demo/SOURCE.txt``):

* households per square = persons / 2.2 (SCB's average household size is about 2.1-2.2
  persons), allocated with the largest-remainder method, so each square gets floor or ceil of
  its quota and the kommun total is round(10,855 / 2.2) = 4,934;
* a square is *urban* when its centre lies in a tätort's equal-area circle (radius
  sqrt(area_ha * 10000 / pi) around the SCB point) or the square holds the point; because the
  SCB point is not the population centre, a tätort is then filled up with its most populous
  squares (>= 50 persons, within circle radius + 1.5 km) until its 2020 population is reached;
* urban addresses sit on a jittered street lattice per tätort (streets 70 m apart, plots 32 m
  apart), on the plots where the population density interpolated between square centres is
  highest; apartment buildings (4-40 households) lie nearer the centre; rural addresses line
  short local roads, a few farms set back 60-220 m;
* fibre follows the urban streets and, in the countryside, the local roads of served squares
  plus a minimum spanning tree of trunk routes between them; the order in which rural squares
  get fibre (existing, under construction 2026/2027, planned 2027-2030, never) is a seeded
  ranking by distance to the nearest tätort and household count.

Reproducibility: all draws happen in a fixed order (loops run over sorted squares / tätorter),
every output is sorted, coordinates are rounded to 0.1 m, and the GeoPackage timestamp
(``gpkg_contents.last_change``) is pinned with the GDAL config option ``OGR_CURRENT_DATE``, so
two runs with the same seed write byte-identical files.

Usage::

    python scripts/make_demo_data.py [--seed 2061] [--out-dir gis_data/demo] [--gis-data gis_data]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely
from shapely.ops import substring

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

REPO_ROOT = Path(__file__).resolve().parent.parent
KOMMUN_CODE = "2061"
CRS = "EPSG:3006"
SQUARE_M = 1000
PERSONS_PER_HOUSEHOLD = 2.2
#: Fixed GeoPackage timestamp so that the output bytes do not depend on the wall clock.
OGR_FIXED_DATE = "2026-01-01T00:00:00Z"
EVALUATION_YEAR = 2026
PASSED_M = 50.0
NEAR_M = 250.0
#: Fraction of the square that must overlap the kommun polygon to restrict points to it.
MIN_KOMMUN_OVERLAP = 0.02

# Urban street lattice (metres).
ROW_SPACING = 70.0
SITE_SPACING = 32.0
SIDE_OFFSET = 15.0
BLOCK_M = 200.0
#: Shortest network segment (a little over 50 m so that 0.1 m rounding keeps it >= 50 m).
MIN_SEGMENT_M = 52.0
MAX_SEGMENT_M = 400.0
FILL_SEARCH_M = 1500.0
FILL_MIN_PERSONS = 50

# Workplace and holiday-home rates.
URBAN_WP_SITE_RATE = 0.042
VILLA_WP_PROB = 0.06
APARTMENT_WP_PROB = 0.4
FARM_PROB = 0.08
RURAL_WP_SITE_PROB = 0.12
HOLIDAY_PER_RURAL_SQUARE = 1.3
HOLIDAY_AREA_PER_HA = 2.2
CONNECTED_SHARE = 0.70
RURAL_SETBACK = 0.06

# Rural fibre roll-out: phases and the cumulative share of rural households reached per phase.
PHASES: tuple[tuple[str, int], ...] = (
    ("existing", 0),
    ("under_construction", 2026),
    ("under_construction", 2027),
    ("planned", 2027),
    ("planned", 2028),
    ("planned", 2029),
    ("planned", 2030),
)
PHASE_SHARES = (0.82, 0.85, 0.88, 0.91, 0.94, 0.96, 0.985)
NEVER = len(PHASES)

STADSNAT = "Smedjebackens Stadsnät"
SKANOVA = "Skanova"
PRIVATE = "Privatfiber Norr AB"
BYANAT = "Byanätet Söderbärke ek. för."
HFC_OWNER = "Bergslagens Kabel-TV AB"
FWA_OWNER = "Bergslagens Radionät AB"
DUCT_OWNER = "Smedjebackens kommun"

PUBLIC_SITES: dict[str, tuple[str, ...]] = {
    "Smedjebacken": (
        ("kommunhus", "bibliotek")
        + ("skola",) * 4
        + ("förskola",) * 5
        + ("vård",) * 2
        + ("omsorg",) * 3
        + ("idrott",) * 2
    ),
    "Söderbärke": ("skola", "förskola", "omsorg", "idrott"),
    "Vad": ("förskola",),
    "Gubbo": ("förskola",),
    "Hagge": ("skola",),
}
URBAN_POSTCODES = {"Söderbärke": "77760", "Vad": "77750", "Hagge": "77751", "Gubbo": "77790"}
SMEDJEBACKEN_POSTCODES = ("77730", "77731", "77732", "77733")

STREET_PREFIXES = (
    "Björk", "Ek", "Lind", "Gran", "Tall", "Rönn", "Hägg", "Lönn", "Asp", "Al", "Bruks",
    "Hytt", "Kyrk", "Skol", "Stor", "Tull", "Kvarn", "Malm", "Järn", "Smed", "Hammar",
    "Kanal", "Strand", "Sjö", "Ängs", "Åker", "Park", "Torg", "Post", "Bergs", "Dal",
    "Vall", "Hag", "Sol",
)  # fmt: skip
STREET_SUFFIXES = ("gatan", "vägen", "stigen", "gränd")
VILLAGE_PREFIXES = (
    "Norr", "Sör", "Väster", "Öster", "Berg", "Sjö", "Lill", "Stor", "Kvarn", "Hytt", "Kol",
    "Myr", "Ås", "Holm", "Lind", "Björk", "Gran", "Tall", "Ek", "Fors", "Malm", "Råg",
    "Hög", "Löv",
)  # fmt: skip
VILLAGE_SUFFIXES = (
    "by", "bo", "berget", "backen", "torp", "näs", "viken", "sjön", "hyttan", "mora", "dal",
    "ängen", "heden", "vallen", "tjärn", "hagen",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Inputs:
    """The real SCB inputs, all in EPSG:3006."""

    squares: pd.DataFrame  # rutid, e0, n0, persons, households; sorted by rutid
    tatorter: pd.DataFrame  # code, name, x, y, area_ha, pop, radius; sorted by code
    kommun: shapely.Geometry
    holiday_areas: shapely.Geometry


def largest_remainder(quota: FloatArray) -> IntArray:
    """Integers that sum to round(sum(quota)), each floor or ceil of its quota.

    The units left after flooring go to the largest fractional parts (ties: lower index).
    """
    base = np.floor(quota).astype(np.int64)
    left = round(float(quota.sum())) - int(base.sum())
    order = np.lexsort((np.arange(len(quota)), -(quota - base)))
    base[order[:left]] += 1
    return base


def read_squares(path: Path) -> pd.DataFrame:
    """Populated 1 km squares of the kommun, rebuilt exactly in EPSG:3006 from ``rutid``."""
    frame = pyogrio.read_dataframe(
        path, columns=["rutid", "kommunkod", "befolkning_2025"], read_geometry=False
    )
    frame = frame[frame["kommunkod"] == KOMMUN_CODE].sort_values("rutid", ignore_index=True)
    rutid = frame["rutid"].astype(str)
    persons = frame["befolkning_2025"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "rutid": rutid.to_numpy(dtype=object),
            "e0": rutid.str[:6].astype(np.int64).to_numpy(),
            "n0": rutid.str[6:].astype(np.int64).to_numpy(),
            "persons": persons,
            "households": largest_remainder(persons / PERSONS_PER_HOUSEHOLD),
        }
    )


def read_tatorter(path: Path) -> pd.DataFrame:
    """SCB tätort points of the kommun with their equal-area circle radius (m)."""
    frame = pyogrio.read_dataframe(path, columns=["code", "name", "mun_code", "area", "pop"])
    frame = frame[frame["mun_code"] == KOMMUN_CODE].sort_values("code", ignore_index=True)
    area_ha = frame["area"].to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "code": frame["code"].to_numpy(dtype=object),
            "name": frame["name"].to_numpy(dtype=object),
            "x": frame.geometry.x.to_numpy(),
            "y": frame.geometry.y.to_numpy(),
            "area_ha": area_ha,
            "pop": frame["pop"].to_numpy(dtype=np.int64),
            "radius": np.sqrt(area_ha * 10_000 / np.pi),
        }
    )


def read_inputs(gis_data: Path) -> Inputs:
    """Read the real SCB inputs from the shipped ``gis_data`` folder."""
    squares = read_squares(gis_data / "scb_dalarna" / "befolkning_1km_2025_dalarna.geojson")
    tatorter = read_tatorter(gis_data / "tatorter" / "tatorter_2020_points_sweref99tm.gpkg")
    kommuner = pyogrio.read_dataframe(gis_data / "boundaries" / "kommuner_sweref99tm.gpkg")
    kommun = shapely.union_all(kommuner.geometry[kommuner["code"] == KOMMUN_CODE].to_numpy())
    areas = pyogrio.read_dataframe(
        gis_data / "scb_dalarna" / "fritidshusomraden_2020_dalarna_raw.geojson"
    ).to_crs(CRS)
    areas = areas[areas.intersects(kommun)].sort_values("fritidshus")
    populated = shapely.union_all(square_boxes(squares))
    holiday = shapely.intersection(shapely.union_all(areas.geometry.to_numpy()), populated)
    return Inputs(squares, tatorter, kommun, shapely.intersection(holiday, kommun))


def square_boxes(squares: pd.DataFrame) -> npt.NDArray[Any]:
    """Shapely polygons of the 1 km squares."""
    e0 = squares["e0"].to_numpy(dtype=np.float64)
    n0 = squares["n0"].to_numpy(dtype=np.float64)
    boxes: npt.NDArray[Any] = shapely.box(e0, n0, e0 + SQUARE_M, n0 + SQUARE_M)
    return boxes


def square_regions(squares: pd.DataFrame, kommun: shapely.Geometry) -> list[shapely.Geometry]:
    """Where each square's addresses may go: square ∩ kommun, or the whole square if tiny."""
    boxes = square_boxes(squares)
    clipped = shapely.intersection(boxes, kommun)
    use_clip = shapely.area(clipped) >= MIN_KOMMUN_OVERLAP * SQUARE_M**2
    regions = [c if ok else b for c, b, ok in zip(clipped, boxes, use_clip, strict=True)]
    for region in regions:
        shapely.prepare(region)
    return regions


# --------------------------------------------------------------------------------------------
# Urban / rural classification


def classify_urban(squares: pd.DataFrame, tatorter: pd.DataFrame) -> npt.NDArray[Any]:
    """Tätort name per square ("" = rural).

    Core: centre inside the equal-area circle, or the square holds the SCB point. Fill: the
    tätort (largest first) takes its most populous squares (>= FILL_MIN_PERSONS, centre within
    radius + FILL_SEARCH_M) until the squares hold its 2020 population.
    """
    cx = squares["e0"].to_numpy() + SQUARE_M / 2
    cy = squares["n0"].to_numpy() + SQUARE_M / 2
    persons = squares["persons"].to_numpy()
    dist = np.hypot(cx[:, None] - tatorter["x"].to_numpy(), cy[:, None] - tatorter["y"].to_numpy())
    name = np.full(len(squares), "", dtype=object)
    order = np.argsort(-tatorter["pop"].to_numpy(), kind="stable")
    for j in order:
        t = tatorter.iloc[j]
        holds = (
            (squares["e0"].to_numpy() <= t["x"])
            & (t["x"] < squares["e0"].to_numpy() + SQUARE_M)
            & (squares["n0"].to_numpy() <= t["y"])
            & (t["y"] < squares["n0"].to_numpy() + SQUARE_M)
        )
        core = ((dist[:, j] <= t["radius"]) | holds) & (name == "")
        name[core] = t["name"]
    for j in order:
        t = tatorter.iloc[j]
        total = int(persons[name == t["name"]].sum())
        cand = (name == "") & (dist[:, j] <= t["radius"] + FILL_SEARCH_M)
        cand &= persons >= FILL_MIN_PERSONS
        for i in np.flatnonzero(cand)[np.argsort(-persons[cand], kind="stable")]:
            if total >= t["pop"]:
                break
            name[i] = t["name"]
            total += int(persons[i])
    return name


# --------------------------------------------------------------------------------------------
# Geometry helpers


@dataclass(frozen=True)
class Frame:
    """A rotated local street frame: u along the streets, v across them (metres)."""

    x0: float
    y0: float
    angle: float

    def to_local(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """World (EPSG:3006) to local (u, v)."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        dx, dy = x - self.x0, y - self.y0
        return dx * c + dy * s, -dx * s + dy * c

    def to_world(self, u: FloatArray, v: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Local (u, v) to world (EPSG:3006)."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        return self.x0 + u * c - v * s, self.y0 + u * s + v * c


def sample_in_region(
    region: shapely.Geometry,
    n: int,
    rng: np.random.Generator,
    bounds: tuple[float, float, float, float] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """``n`` uniform random points inside ``region`` (rejection sampling within ``bounds``)."""
    xmin, ymin, xmax, ymax = bounds if bounds is not None else shapely.bounds(region)
    xs: list[FloatArray] = []
    ys: list[FloatArray] = []
    got = 0
    for _ in range(200):
        if got >= n:
            break
        m = max(8 * (n - got), 32)
        x, y = rng.uniform(xmin, xmax, m), rng.uniform(ymin, ymax, m)
        ok = shapely.contains_xy(region, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        got += int(ok.sum())
    if got < n:
        if bounds is None:
            raise RuntimeError(f"could not sample {n} points in region")
        return sample_in_region(region, n, rng)  # region barely reaches into ``bounds``
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def jittered_line(
    x0: float, y0: float, x1: float, y1: float, rng: np.random.Generator
) -> shapely.LineString:
    """A road-like line from (x0, y0) to (x1, y1) with one sideways-jittered midpoint."""
    length = float(np.hypot(x1 - x0, y1 - y0))
    nx, ny = (-(y1 - y0) / length, (x1 - x0) / length) if length > 0 else (0.0, 0.0)
    off = float(rng.normal(0.0, 0.08 * length))
    t = float(rng.uniform(0.35, 0.65))
    mx, my = x0 + t * (x1 - x0) + off * nx, y0 + t * (y1 - y0) + off * ny
    return shapely.LineString([(x0, y0), (mx, my), (x1, y1)])


def split_line(line: shapely.LineString, max_len: float) -> list[shapely.LineString]:
    """Split a line into equal parts no longer than ``max_len``."""
    k = max(1, int(np.ceil(line.length / max_len)))
    if k == 1:
        return [line]
    cuts = np.linspace(0.0, line.length, k + 1)
    return [substring(line, float(a), float(b)) for a, b in itertools.pairwise(cuts)]


def round_geoms(geoms: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Round every coordinate to 0.1 m (stable bytes, no false precision)."""
    rounded: npt.NDArray[Any] = shapely.transform(geoms, lambda c: np.round(c, 1))
    return rounded


# --------------------------------------------------------------------------------------------
# Urban addresses


def apartment_sizes(target: int, rng: np.random.Generator) -> IntArray:
    """Household counts (4-40 each) of apartment buildings holding about ``target`` households."""
    if target < 4:
        return np.zeros(0, dtype=np.int64)
    n = max(1, round(target / 16))
    raw = rng.integers(4, 41, n).astype(np.float64)
    sizes = np.clip(np.round(raw * target / raw.sum()), 4, 40).astype(np.int64)
    return np.sort(sizes)[::-1]


def mdu_share(tatort: str, households: int) -> float:
    """Share of a square's households living in apartment buildings."""
    if tatort == "Smedjebacken":
        return 0.45 if households >= 150 else 0.2 if households >= 40 else 0.0
    if tatort == "Söderbärke":
        return 0.2 if households >= 40 else 0.0
    return 0.1 if households >= 40 else 0.0


def lattice_sites(
    region: shapely.Geometry, frame: Frame, e0: int, n0: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Jittered plot sites on both sides of the lattice streets inside ``region``."""
    cu, cv = frame.to_local(
        np.array([e0, e0 + SQUARE_M, e0 + SQUARE_M, e0], dtype=np.float64),
        np.array([n0, n0, n0 + SQUARE_M, n0 + SQUARE_M], dtype=np.float64),
    )
    rows = np.arange(np.floor(cv.min() / ROW_SPACING) - 1, np.ceil(cv.max() / ROW_SPACING) + 2)
    cols = np.arange(np.floor(cu.min() / SITE_SPACING) - 1, np.ceil(cu.max() / SITE_SPACING) + 2)
    rr, jj, ss = (a.ravel() for a in np.meshgrid(rows, cols, [-1.0, 1.0], indexing="ij"))
    u = jj * SITE_SPACING + (ss < 0) * SITE_SPACING / 2 + rng.uniform(-5, 5, rr.size)
    v = rr * ROW_SPACING + ss * SIDE_OFFSET + rng.uniform(-3, 3, rr.size)
    x, y = frame.to_world(u, v)
    keep = shapely.contains_xy(region, x, y)
    return pd.DataFrame(
        {
            "x": x[keep],
            "y": y[keep],
            "u": u[keep],
            "row": rr[keep].astype(np.int64),
            "side": ss[keep],
        }
    )


def density_field(squares: pd.DataFrame) -> Callable[[FloatArray, FloatArray], FloatArray]:
    """Persons per km² interpolated bilinearly between square centres (0 outside populated ones).

    Urban plots are chosen where this smooth field is highest, so a town flows across square
    borders instead of forming one blob per square.
    """
    e0 = squares["e0"].to_numpy() // SQUARE_M
    n0 = squares["n0"].to_numpy() // SQUARE_M
    ie, in_ = e0 - e0.min() + 1, n0 - n0.min() + 1
    grid = np.zeros((ie.max() + 2, in_.max() + 2))
    grid[ie, in_] = squares["persons"].to_numpy()

    def field(x: FloatArray, y: FloatArray) -> FloatArray:
        gx = (x - SQUARE_M / 2) / SQUARE_M - e0.min() + 1
        gy = (y - SQUARE_M / 2) / SQUARE_M - n0.min() + 1
        ix = np.clip(np.floor(gx).astype(np.int64), 0, grid.shape[0] - 2)
        iy = np.clip(np.floor(gy).astype(np.int64), 0, grid.shape[1] - 2)
        fx, fy = gx - ix, gy - iy
        value: FloatArray = (
            grid[ix, iy] * (1 - fx) * (1 - fy)
            + grid[ix + 1, iy] * fx * (1 - fy)
            + grid[ix, iy + 1] * (1 - fx) * fy
            + grid[ix + 1, iy + 1] * fx * fy
        )
        return value

    return field


def urban_square(
    square: pd.Series,
    region: shapely.Geometry,
    frame: Frame,
    attractor: tuple[float, float],
    density: Callable[[FloatArray, FloatArray], FloatArray],
    tatort: str,
    public: Sequence[str],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Addresses of one urban square: apartment buildings, villas, workplaces, public sites."""
    hh = int(square["households"])
    sizes = apartment_sizes(round(hh * mdu_share(tatort, hh)), rng)
    n_villa = hh - int(sizes.sum())
    n_wp = int(rng.poisson(hh * URBAN_WP_SITE_RATE))
    n_need = len(sizes) + n_villa + n_wp + len(public)
    sites = lattice_sites(region, frame, int(square["e0"]), int(square["n0"]), rng)
    if len(sites) < n_need:
        raise RuntimeError(f"square {square['rutid']}: {len(sites)} sites < {n_need} needed")
    dens = density(sites["x"].to_numpy(), sites["y"].to_numpy())
    score = -np.log(dens + 1.0) + rng.normal(0.0, 0.15, len(sites))
    chosen = np.argsort(score, kind="stable")[:n_need]
    out = sites.iloc[chosen].reset_index(drop=True)
    centre = np.hypot(out["x"].to_numpy() - attractor[0], out["y"].to_numpy() - attractor[1])
    central = np.argsort(centre + rng.normal(0.0, 150.0, n_need), kind="stable")
    apt = central[: len(sizes)]
    rest = rng.permutation(central[len(sizes) :])
    pub, wp, villa = (
        rest[: len(public)],
        rest[len(public) : len(public) + n_wp],
        rest[len(public) + n_wp :],
    )
    households = np.zeros(n_need, dtype=np.int64)
    workplaces = np.zeros(n_need, dtype=np.int64)
    kind = np.full(n_need, "villa", dtype=object)
    public_site = np.full(n_need, "", dtype=object)
    households[apt], kind[apt] = sizes, "apartment"
    workplaces[apt] = np.where(
        rng.random(len(apt)) < APARTMENT_WP_PROB, rng.integers(1, 5, len(apt)), 0
    )
    households[villa] = 1
    workplaces[villa] = (rng.random(len(villa)) < VILLA_WP_PROB).astype(np.int64)
    workplaces[wp], kind[wp] = rng.geometric(0.4, len(wp)), "workplace"
    public_site[pub], kind[pub] = list(public), "public"
    workplaces[pub] = [4 if p == "kommunhus" else int(rng.integers(1, 3)) for p in public]
    out["households"], out["workplaces"], out["kind"] = households, workplaces, kind
    out["public_site"], out["holiday_homes"] = public_site, 0
    out["tatort"], out["rutid"] = tatort, square["rutid"]
    return out


def allocate_public(
    tatort: str, idx: IntArray, households: IntArray, rng: np.random.Generator
) -> dict[int, list[str]]:
    """Square index -> public-site categories; kommunhus and bibliotek go to the densest square."""
    cats = PUBLIC_SITES.get(tatort, ())
    out: dict[int, list[str]] = {int(i): [] for i in idx}
    weights = households / households.sum()
    densest = int(idx[np.argmax(households)])
    for cat in cats:
        target = densest if cat in ("kommunhus", "bibliotek") else int(rng.choice(idx, p=weights))
        out[target].append(cat)
    return out


def generate_urban(
    inputs: Inputs,
    urban: npt.NDArray[Any],
    regions: list[shapely.Geometry],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict[str, Frame], dict[str, tuple[float, float]]]:
    """Urban addresses of every tätort plus its street frame and population attractor."""
    squares = inputs.squares
    parts: list[pd.DataFrame] = []
    frames: dict[str, Frame] = {}
    attractors: dict[str, tuple[float, float]] = {}
    density = density_field(squares)
    t = inputs.tatorter
    for name, tx, ty in zip(t["name"].astype(str), t["x"], t["y"], strict=True):
        idx = np.flatnonzero(urban == name)
        sub = squares.iloc[idx]
        w = sub["persons"].to_numpy(dtype=np.float64)
        ax = float(np.average(sub["e0"].to_numpy() + SQUARE_M / 2, weights=w))
        ay = float(np.average(sub["n0"].to_numpy() + SQUARE_M / 2, weights=w))
        frames[name] = Frame(float(tx), float(ty), float(rng.uniform(-np.pi / 4, np.pi / 4)))
        attractors[name] = (ax, ay)
        public = allocate_public(name, idx, sub["households"].to_numpy(), rng)
        for i in idx:
            parts.append(
                urban_square(
                    squares.iloc[i],
                    regions[i],
                    frames[name],
                    (ax, ay),
                    density,
                    name,
                    public[int(i)],
                    rng,
                )
            )
    return pd.concat(parts, ignore_index=True), frames, attractors


# --------------------------------------------------------------------------------------------
# Rural addresses


def rural_roads(
    region: shapely.Geometry, e0: int, n0: int, k: int, rng: np.random.Generator
) -> FloatArray:
    """``k`` short local roads (x0, y0, x1, y1) with their centres inside ``region``."""
    inner = (e0 + 100.0, n0 + 100.0, e0 + SQUARE_M - 100.0, n0 + SQUARE_M - 100.0)
    cx, cy = sample_in_region(region, k, rng, inner)
    ang = rng.uniform(0.0, np.pi, k)
    half = rng.uniform(100.0, 325.0, k)
    dx, dy = np.cos(ang) * half, np.sin(ang) * half
    lo_x, hi_x, lo_y, hi_y = e0 + 20.0, e0 + SQUARE_M - 20.0, n0 + 20.0, n0 + SQUARE_M - 20.0
    return np.column_stack(
        [
            np.clip(cx - dx, lo_x, hi_x),
            np.clip(cy - dy, lo_y, hi_y),
            np.clip(cx + dx, lo_x, hi_x),
            np.clip(cy + dy, lo_y, hi_y),
        ]
    )


def roadside_points(
    roads: FloatArray,
    n: int,
    near_scale: float,
    setback_prob: float,
    region: shapely.Geometry,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``n`` points beside the roads (most 8-45 m off, a share set back 60-220 m) in ``region``."""
    x0, y0, x1, y1 = roads.T
    length = np.hypot(x1 - x0, y1 - y0)
    road = rng.choice(len(roads), size=n, p=length / length.sum())
    setback = rng.random(n) < setback_prob
    x = np.zeros(n)
    y = np.zeros(n)
    t = np.zeros(n)
    todo = np.arange(n)
    for _ in range(50):
        if todo.size == 0:
            break
        r = road[todo]
        tt = rng.uniform(0.0, 1.0, todo.size)
        side = rng.choice([-1.0, 1.0], todo.size)
        off = np.minimum(8.0 + rng.exponential(near_scale, todo.size), 45.0)
        off = np.where(setback[todo], rng.uniform(60.0, 220.0, todo.size), off)
        ux, uy = (x1[r] - x0[r]) / length[r], (y1[r] - y0[r]) / length[r]
        px = x0[r] + tt * length[r] * ux - side * off * uy
        py = y0[r] + tt * length[r] * uy + side * off * ux
        x[todo], y[todo], t[todo] = px, py, tt
        todo = todo[~shapely.contains_xy(region, px, py)]
    # Fallback: the road's centre, which was sampled inside the region.
    x[todo] = (x0[road[todo]] + x1[road[todo]]) / 2
    y[todo] = (y0[road[todo]] + y1[road[todo]]) / 2
    return pd.DataFrame({"x": x, "y": y, "road": road, "t": t, "setback": setback})


def rural_square(
    square: pd.Series, region: shapely.Geometry, rng: np.random.Generator
) -> tuple[pd.DataFrame, FloatArray]:
    """Addresses and local roads of one rural square: houses, farms, firms, holiday homes."""
    hh = int(square["households"])
    roads = rural_roads(region, int(square["e0"]), int(square["n0"]), 1 + min(hh // 12, 7), rng)
    houses = roadside_points(roads, hh, 12.0, RURAL_SETBACK, region, rng)
    houses["households"] = 1
    houses["workplaces"] = (rng.random(hh) < FARM_PROB).astype(np.int64)
    houses["holiday_homes"] = 0
    houses["kind"] = np.where(houses["workplaces"] > 0, "farm", "house")
    n_hol = int(rng.poisson(HOLIDAY_PER_RURAL_SQUARE))
    holiday = roadside_points(roads, n_hol, 25.0, 0.35, region, rng)
    holiday["households"], holiday["workplaces"], holiday["holiday_homes"] = 0, 0, 1
    holiday["kind"] = "holiday"
    n_wp = int(rng.random() < RURAL_WP_SITE_PROB * min(1.0, hh / 3))
    firms = roadside_points(roads, n_wp, 12.0, 0.0, region, rng)
    firms["households"], firms["holiday_homes"], firms["kind"] = 0, 0, "rural_workplace"
    firms["workplaces"] = rng.integers(1, 4, n_wp)
    out = pd.concat([houses, holiday, firms], ignore_index=True)
    out["public_site"], out["tatort"], out["rutid"] = "", "", square["rutid"]
    return out, roads


def generate_rural(
    inputs: Inputs,
    urban: npt.NDArray[Any],
    regions: list[shapely.Geometry],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict[str, FloatArray]]:
    """Rural addresses of every non-urban square and the local roads per square."""
    parts: list[pd.DataFrame] = []
    roads: dict[str, FloatArray] = {}
    for i in np.flatnonzero(urban == ""):
        square = inputs.squares.iloc[i]
        frame, square_roads = rural_square(square, regions[i], rng)
        parts.append(frame)
        roads[str(square["rutid"])] = square_roads
    return pd.concat(parts, ignore_index=True), roads


def holiday_area_sites(area: shapely.Geometry, rng: np.random.Generator) -> pd.DataFrame:
    """Holiday homes scattered inside the real SCB fritidshusområde(n) of the kommun."""
    if area.is_empty:
        return pd.DataFrame()
    shapely.prepare(area)
    n = round(shapely.area(area) / 10_000 * HOLIDAY_AREA_PER_HA)
    x, y = sample_in_region(area, n, rng)
    order = np.lexsort((x, y))
    return pd.DataFrame(
        {
            "x": x[order],
            "y": y[order],
            "households": 0,
            "workplaces": 0,
            "holiday_homes": 1,
            "kind": "holiday_area",
            "public_site": "",
            "tatort": "",
            "rutid": "",
        }
    )


# --------------------------------------------------------------------------------------------
# Street names, numbers and postcodes


def unique_names(
    prefixes: Sequence[str], suffixes: Sequence[str], n: int, rng: np.random.Generator
) -> list[str]:
    """``n`` distinct generated names prefix+suffix (e.g. "Björkvägen", "Norrby")."""
    combos = [p + s for p in prefixes for s in suffixes]
    if n > len(combos):
        raise RuntimeError(f"only {len(combos)} names for {n} places")
    return [combos[i] for i in rng.choice(len(combos), size=n, replace=False)]


def name_urban(
    urban: pd.DataFrame, attractors: dict[str, tuple[float, float]], rng: np.random.Generator
) -> pd.DataFrame:
    """Street name per (tätort, row), house numbers (odd/even by side) and postcodes."""
    urban = urban.sort_values(["tatort", "row", "side", "u"], ignore_index=True)
    street = np.empty(len(urban), dtype=object)
    for idx in urban.groupby("tatort", sort=True).indices.values():
        rows = np.unique(urban["row"].to_numpy()[idx])
        names = dict(
            zip(rows, unique_names(STREET_PREFIXES, STREET_SUFFIXES, len(rows), rng), strict=True)
        )
        street[idx] = [names[r] for r in urban["row"].to_numpy()[idx]]
    rank = urban.groupby(["tatort", "row", "side"], sort=False).cumcount().to_numpy()
    urban["number"] = np.where(urban["side"] > 0, 2 * rank + 1, 2 * rank + 2)
    urban["street"] = street
    ax = urban["tatort"].map(lambda t: attractors[t][0]).to_numpy(dtype=np.float64)
    ay = urban["tatort"].map(lambda t: attractors[t][1]).to_numpy(dtype=np.float64)
    quadrant = (urban["x"].to_numpy() < ax).astype(int) + 2 * (urban["y"].to_numpy() < ay)
    postcode = np.array(SMEDJEBACKEN_POSTCODES, dtype=object)[quadrant]
    urban["postcode"] = np.where(
        urban["tatort"] == "Smedjebacken", postcode, urban["tatort"].map(URBAN_POSTCODES)
    )
    return urban


def rural_postcode(x: FloatArray, y: FloatArray, nearest: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Plausible 777xx postcodes for rural addresses by part of the kommun."""
    west = np.isin(nearest, ["Smedjebacken", "Gubbo", "Hagge"])
    return np.where(
        west,
        np.where(y >= 6_667_000, "77790", "77791"),
        np.where(x < 531_000, "77793", "77794"),
    ).astype(object)


def name_rural(rural: pd.DataFrame, inputs: Inputs, rng: np.random.Generator) -> pd.DataFrame:
    """Village name per square (holiday area: its own), numbers along the roads, postcodes."""
    rural = rural.sort_values(["rutid", "road", "t"], ignore_index=True)
    keys = np.unique(rural["rutid"].to_numpy(dtype=str))
    names = dict(
        zip(keys, unique_names(VILLAGE_PREFIXES, VILLAGE_SUFFIXES, len(keys), rng), strict=True)
    )
    rural["street"] = rural["rutid"].map(names)
    rural.loc[rural["rutid"] == "", "street"] = names.get("", "Fritidsområdet") + "vägen"
    rural["number"] = rural.groupby("rutid", sort=False).cumcount().to_numpy() + 1
    t = inputs.tatorter
    d = np.hypot(
        rural["x"].to_numpy()[:, None] - t["x"].to_numpy(),
        rural["y"].to_numpy()[:, None] - t["y"].to_numpy(),
    )
    nearest = t["name"].to_numpy(dtype=object)[np.argmin(d, axis=1)]
    rural["postcode"] = rural_postcode(rural["x"].to_numpy(), rural["y"].to_numpy(), nearest)
    return rural


# --------------------------------------------------------------------------------------------
# Network: urban streets


@dataclass(frozen=True)
class Element:
    """Attributes shared by network segments and nodes."""

    technology: str
    status: str
    year: int
    open_network: bool
    owner: str


def urban_pieces(urban: pd.DataFrame, frames: dict[str, Frame]) -> pd.DataFrame:
    """Street pieces (a lattice row within a 200 m block) and cross streets between rows.

    Each row piece spans the addresses of its (tätort, row, block) cell plus 10 m, at least
    50 m; a cross street (70 m) joins two adjacent rows where their pieces overlap.
    """
    cells = urban.assign(block=np.floor(urban["u"] / BLOCK_M).astype(np.int64))
    g = cells.groupby(["tatort", "row", "block"], sort=True)["u"].agg(["min", "max"]).reset_index()
    lo = np.maximum(g["min"] - 10.0, g["block"] * BLOCK_M)
    hi = np.minimum(g["max"] + 10.0, (g["block"] + 1) * BLOCK_M)
    mid = (lo + hi) / 2
    short = (hi - lo) < MIN_SEGMENT_M
    half = MIN_SEGMENT_M / 2
    g["u0"], g["u1"] = np.where(short, mid - half, lo), np.where(short, mid + half, hi)
    g["v0"] = g["v1"] = g["row"] * ROW_SPACING
    g["kind"] = "street"
    above = g[["tatort", "row", "block", "u0", "u1"]].assign(row=g["row"] - 1)
    pair = g.merge(above, on=["tatort", "row", "block"], suffixes=("", "_b"))
    olo = np.maximum(pair["u0"], pair["u0_b"])
    ohi = np.minimum(pair["u1"], pair["u1_b"])
    pair = pair[ohi >= olo].assign(u0=((olo + ohi) / 2)[ohi >= olo])
    cross = pair.assign(
        u1=pair["u0"],
        v0=pair["row"] * ROW_SPACING,
        v1=(pair["row"] + 1) * ROW_SPACING,
        kind="cross",
    )[g.columns]
    pieces = pd.concat([g, cross], ignore_index=True)
    geoms = np.empty(len(pieces), dtype=object)
    for name, idx in pieces.groupby("tatort", sort=True).indices.items():
        p = pieces.iloc[idx]
        x0, y0 = frames[str(name)].to_world(p["u0"].to_numpy(), p["v0"].to_numpy())
        x1, y1 = frames[str(name)].to_world(p["u1"].to_numpy(), p["v1"].to_numpy())
        geoms[idx] = shapely.linestrings(
            np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
        )
    pieces["geometry"] = geoms
    return pieces.drop(columns=["min", "max"])


@dataclass(frozen=True)
class UrbanZone:
    """A street area: the street cells nearest an anchor cell until they hold ``households``.

    ``anchor`` is (row, block) counted from the cell of the tätort's population centre; with
    ``anchor_public`` set, the anchor is instead the outermost cell holding such a public site.
    """

    tatort: str
    anchor: tuple[int, int]
    households: int
    anchor_public: str = ""


ZONES = {
    "hfc": UrbanZone("Smedjebacken", (0, 0), 500),
    "hfc_only": UrbanZone("Smedjebacken", (3, 1), 50),
    "private": UrbanZone("Smedjebacken", (7, -1), 25),
    # A newer area with a förskola whose fibre is still under construction (2027).
    "develop": UrbanZone("Smedjebacken", (0, 0), 40, anchor_public="förskola"),
    "soderbarke_uc": UrbanZone("Söderbärke", (3, -1), 30),
    "hagge_open": UrbanZone("Hagge", (0, 1), 90),
}


def attractor_cell(frame: Frame, attractor: tuple[float, float]) -> tuple[int, int]:
    """(row, block) of the street cell holding the tätort's population centre."""
    au, av = frame.to_local(np.array([attractor[0]]), np.array([attractor[1]]))
    return int(np.round(av[0] / ROW_SPACING)), int(np.floor(au[0] / BLOCK_M))


def street_cells(
    urban: pd.DataFrame, frames: dict[str, Frame], attractors: dict[str, tuple[float, float]]
) -> pd.DataFrame:
    """Households per street cell (tätort, row, block) and its offset (dr, dk) from the centre."""
    cells = (
        urban.assign(block=np.floor(urban["u"] / BLOCK_M).astype(np.int64))
        .groupby(["tatort", "row", "block"], sort=True)
        .agg(households=("households", "sum"), public=("public_site", lambda p: " ".join(p)))
        .reset_index()
    )
    centre = {t: attractor_cell(frames[t], attractors[t]) for t in frames}
    cells["dr"] = cells["row"] - cells["tatort"].map(lambda t: centre[t][0]).astype(np.int64)
    cells["dk"] = cells["block"] - cells["tatort"].map(lambda t: centre[t][1]).astype(np.int64)
    return cells


def zone_cells(cells: pd.DataFrame, zone: UrbanZone) -> set[tuple[str, int, int]]:
    """The cells nearest the zone's anchor until they hold ``zone.households``."""
    c = cells[cells["tatort"] == zone.tatort]
    ar, ak = zone.anchor
    if zone.anchor_public:
        has = c[c["public"].str.split().apply(lambda cats: zone.anchor_public in cats)]
        dr, dk = has["dr"].to_numpy(), has["dk"].to_numpy()
        outer = int(np.argmax(np.hypot(dr * ROW_SPACING, dk * BLOCK_M)))
        ar, ak = int(dr[outer]), int(dk[outer])
    d = np.hypot((c["dr"] - ar) * ROW_SPACING, (c["dk"] - ak) * BLOCK_M)
    c = c.assign(d=d).sort_values(["d", "row", "block"], kind="stable")
    n = int(np.searchsorted(np.cumsum(c["households"].to_numpy()), zone.households)) + 1
    return set(zip(c["tatort"][:n], c["row"][:n], c["block"][:n], strict=True))


def urban_network(
    pieces: pd.DataFrame,
    cells: pd.DataFrame,
    attractors: dict[str, tuple[float, float]],
    rng: np.random.Generator,
) -> list[tuple[shapely.Geometry, Element]]:
    """Fibre (and hfc) along the urban street pieces, by tätort and zone (see ZONES).

    Smedjebacken: open stadsnät fibre 2010-2024; an hfc (coax) area around the centre, part of
    which has no fibre yet (planned 2028); a private non-open fibre area; a new area under
    construction (2027). Söderbärke: stadsnät, one area under construction (2026). Vad:
    stadsnät. Gubbo: Skanova (open). Hagge: private non-open fibre, open fibre planned 2029 in
    part of it.
    """
    zones = {name: zone_cells(cells, zone) for name, zone in ZONES.items()}
    keys = list(zip(pieces["tatort"], pieces["row"], pieces["block"], strict=True))
    member = {name: np.array([k in z for k in keys], dtype=bool) for name, z in zones.items()}
    t = pieces["tatort"].to_numpy()
    mid = shapely.line_interpolate_point(pieces["geometry"].to_numpy(), 0.5, normalized=True)
    ax = np.array([attractors[x][0] for x in t])
    ay = np.array([attractors[x][1] for x in t])
    dist = np.hypot(shapely.get_x(mid) - ax, shapely.get_y(mid) - ay)
    start = {"Smedjebacken": 2010, "Söderbärke": 2013, "Vad": 2014, "Gubbo": 2015, "Hagge": 2017}
    base = np.array([start[x] for x in t]) + np.floor(dist / 350.0).astype(np.int64)
    years = np.minimum(base + rng.integers(0, 3, len(pieces)), 2024)
    out: list[tuple[shapely.Geometry, Element]] = []
    for i, geom in enumerate(pieces["geometry"].to_numpy()):
        if member["hfc_only"][i]:
            fibre = Element("fibre", "planned", 2028, True, STADSNAT)
        elif member["private"][i]:
            fibre = Element("fibre", "existing", 2017, False, PRIVATE)
        elif member["develop"][i]:
            fibre = Element("fibre", "under_construction", 2027, True, STADSNAT)
        elif member["soderbarke_uc"][i]:
            fibre = Element("fibre", "under_construction", 2026, True, STADSNAT)
        elif t[i] == "Gubbo":
            fibre = Element("fibre", "existing", int(years[i]), True, SKANOVA)
        elif t[i] == "Hagge":
            fibre = Element("fibre", "existing", int(years[i]), False, PRIVATE)
        else:
            fibre = Element("fibre", "existing", int(years[i]), True, STADSNAT)
        out.append((geom, fibre))
        if member["hfc"][i] or member["hfc_only"][i]:
            out.append((geom, Element("hfc", "existing", 2004, False, HFC_OWNER)))
        if member["hagge_open"][i]:
            out.append((geom, Element("fibre", "planned", 2029, True, STADSNAT)))
    return out


# --------------------------------------------------------------------------------------------
# Network: rural tree


def prim_tree(xy: FloatArray, root: int, virtual: BoolArray) -> tuple[IntArray, IntArray]:
    """Minimum spanning tree (Prim) rooted at ``root``: parent per node and insertion order.

    Nodes flagged ``virtual`` (the tätorter) are joined to each other at ~zero cost: they stand
    for the existing backbone between the tätorter.
    """
    n = len(xy)
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    dist[np.ix_(virtual, virtual)] = 1e-3
    parent = np.full(n, root, dtype=np.int64)
    best = dist[root].copy()
    in_tree = np.zeros(n, dtype=bool)
    in_tree[root] = True
    order = [root]
    for _ in range(n - 1):
        j = int(np.argmin(np.where(in_tree, np.inf, best)))
        in_tree[j] = True
        order.append(j)
        better = ~in_tree & (dist[j] < best)
        best[better] = dist[j][better]
        parent[better] = j
    parent[root] = -1
    return parent, np.array(order, dtype=np.int64)


def longest_road_midpoint(roads: FloatArray) -> tuple[float, float]:
    """Midpoint of the longest of a square's roads (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = roads[
        np.argmax(np.hypot(roads[:, 2] - roads[:, 0], roads[:, 3] - roads[:, 1]))
    ]
    return float((x0 + x1) / 2), float((y0 + y1) / 2)


def rural_nodes(
    inputs: Inputs, roads: dict[str, FloatArray], rural: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """One node per rural square (midpoint of its longest road) with its roll-out phase.

    Squares are ranked by (distance to the nearest tätort + 0.7 km) / (households + 1)^0.4
    times a random factor; the ranking is cut by cumulative rural households (PHASE_SHARES).
    """
    keys = sorted(roads)
    x, y = np.array([longest_road_midpoint(roads[k]) for k in keys]).T
    hh = rural.groupby("rutid")["households"].sum().reindex(keys).to_numpy(dtype=np.float64)
    t = inputs.tatorter
    d = np.hypot(x[:, None] - t["x"].to_numpy(), y[:, None] - t["y"].to_numpy())
    nearest = t["name"].to_numpy(dtype=object)[np.argmin(d, axis=1)]
    dmin = d.min(axis=1)
    score = (dmin / 1000 + 0.7) / (hh + 1) ** 0.4 * rng.lognormal(0.0, 0.5, len(keys))
    order = np.argsort(score, kind="stable")
    cum = np.empty(len(keys))
    cum[order] = np.cumsum(hh[order]) / hh.sum()
    phase = np.searchsorted(np.array(PHASE_SHARES), cum, side="left")
    built = np.minimum(2013 + np.floor(10 * cum / PHASE_SHARES[0]), 2023).astype(np.int64)
    year = np.where(phase == 0, built, [PHASES[min(p, NEVER - 1)][1] for p in phase])
    owner = np.select(
        [
            (nearest == "Hagge") & (dmin < 1800),
            np.isin(nearest, ["Söderbärke", "Vad"]),
            nearest == "Gubbo",
        ],
        [PRIVATE, BYANAT, SKANOVA],
        STADSNAT,
    )
    return pd.DataFrame(
        {
            "rutid": keys,
            "x": x,
            "y": y,
            "households": hh,
            "nearest": nearest,
            "phase": phase,
            "year": year,
            "owner": owner,
        }
    )


def phase_element(phase: int, year: int, owner: str) -> Element:
    """Fibre element of a roll-out phase (existing: the given owner and build year)."""
    if phase == 0:
        return Element("fibre", "existing", year, owner != PRIVATE, owner)
    status, planned_year = PHASES[phase]
    return Element("fibre", status, planned_year, True, STADSNAT)


def rural_network(
    nodes: pd.DataFrame, inputs: Inputs, roads: dict[str, FloatArray], rng: np.random.Generator
) -> list[tuple[shapely.Geometry, Element]]:
    """Village fibre along the roads of served squares, a tree of trunk routes, and ducts.

    A trunk edge is built in the earliest phase of any square in the subtree below it; edges
    whose subtree is never served are not built, except one chain that gets empty ducts.
    """
    t = inputs.tatorter
    xy = np.vstack([nodes[["x", "y"]].to_numpy(), t[["x", "y"]].to_numpy()])
    n_rural = len(nodes)
    virtual = np.arange(len(xy)) >= n_rural
    root = n_rural + int(np.flatnonzero(t["name"].to_numpy() == "Smedjebacken")[0])
    parent, order = prim_tree(xy, root, virtual)
    phase = np.append(nodes["phase"].to_numpy(), np.full(len(t), NEVER))
    key = phase * 10_000 + np.append(nodes["year"].to_numpy(), np.zeros(len(t), dtype=np.int64))
    sub = key.copy()
    for j in order[::-1]:
        if parent[j] >= 0:
            sub[parent[j]] = min(sub[parent[j]], sub[j])
    owners = nodes["owner"].astype(str).to_numpy()
    years = nodes["year"].to_numpy(dtype=np.int64)
    rutids = nodes["rutid"].astype(str).to_numpy()
    out: list[tuple[shapely.Geometry, Element]] = []
    unbuilt: list[int] = []
    for j in order[1:]:
        p = int(parent[j])
        if virtual[j]:
            continue
        line = jittered_line(xy[j, 0], xy[j, 1], xy[p, 0], xy[p, 1], rng)
        if sub[j] >= NEVER * 10_000:
            unbuilt.append(int(j))
        elif line.length >= MIN_SEGMENT_M:
            edge = phase_element(int(sub[j] // 10_000), int(sub[j] % 10_000), str(owners[j]))
            out.append((line, edge))
    out += duct_chain(unbuilt, parent, nodes, xy, rng)
    for j in range(n_rural):
        if phase[j] < NEVER:
            element = phase_element(int(phase[j]), int(years[j]), str(owners[j]))
            for x0, y0, x1, y1 in roads[str(rutids[j])]:
                out.append((shapely.LineString([(x0, y0), (x1, y1)]), element))
    return out


def duct_chain(
    unbuilt: list[int],
    parent: IntArray,
    nodes: pd.DataFrame,
    xy: FloatArray,
    rng: np.random.Generator,
) -> list[tuple[shapely.Geometry, Element]]:
    """Empty ducts (tomrör) along up to 4 unbuilt trunk edges above the largest unserved village."""
    if not unbuilt:
        return []
    hh = nodes["households"].to_numpy()
    j = max(unbuilt, key=lambda k: (hh[k], -k))
    todo = set(unbuilt)
    out: list[tuple[shapely.Geometry, Element]] = []
    while j in todo and len(out) < 4:
        p = int(parent[j])
        line = jittered_line(xy[j, 0], xy[j, 1], xy[p, 0], xy[p, 1], rng)
        out.append((line, Element("duct", "existing", 2021, True, DUCT_OWNER)))
        j = p
    return out


def kmeans(xy: FloatArray, w: FloatArray, k: int, iterations: int = 25) -> FloatArray:
    """Weighted k-means with a deterministic farthest-point start."""
    centre = np.average(xy, axis=0, weights=w)
    centres = [xy[np.argmax(np.hypot(*(xy - centre).T))]]
    while len(centres) < k:
        d = np.min([np.hypot(*(xy - c).T) for c in centres], axis=0)
        centres.append(xy[np.argmax(d)])
    c = np.array(centres)
    for _ in range(iterations):
        label = np.argmin(np.hypot(xy[:, None, 0] - c[:, 0], xy[:, None, 1] - c[:, 1]), axis=1)
        c = np.array(
            [
                np.average(xy[label == i], axis=0, weights=w[label == i])
                if (label == i).any()
                else c[i]
                for i in range(k)
            ]
        )
    return c


def network_nodes(nodes: pd.DataFrame) -> list[tuple[shapely.Geometry, Element]]:
    """VDSL cabinets in the two largest villages without fibre by 2026, and 3 FWA stations."""
    late = nodes[nodes["phase"] >= 2]
    out: list[tuple[shapely.Geometry, Element]] = []
    vdsl = (
        late[late["households"] >= 8]
        .sort_values(["households", "rutid"], ascending=[False, True])
        .head(2)
    )
    cabinet = Element("vdsl", "existing", 2011, True, SKANOVA)
    for x, y in vdsl[["x", "y"]].to_numpy():
        out.append((shapely.Point(x + 12.0, y + 8.0), cabinet))
    centres = kmeans(late[["x", "y"]].to_numpy(), late["households"].to_numpy() + 1.0, 3)
    for year, (x, y) in zip((2019, 2020, 2021), centres, strict=True):
        out.append((shapely.Point(x, y), Element("fwa", "existing", year, False, FWA_OWNER)))
    return out


# --------------------------------------------------------------------------------------------
# Assembly


@dataclass(frozen=True)
class Demo:
    """The generated layers plus what the summary needs."""

    addresses: gpd.GeoDataFrame
    network: gpd.GeoDataFrame
    nodes: gpd.GeoDataFrame
    kind: npt.NDArray[Any]  # internal address kind, aligned with ``addresses``
    urban_squares: int


TECH_ORDER = {"fibre": 0, "hfc": 1, "vdsl": 2, "fwa": 3, "duct": 4}
STATUS_ORDER = {"existing": 0, "under_construction": 1, "planned": 2}
ID_PREFIX = {"fibre": "F", "hfc": "H", "duct": "D", "vdsl": "V", "fwa": "W"}
ELEMENT_COLUMNS = [
    "segment_id",
    "technology",
    "status",
    "year",
    "open_network",
    "owner",
    "geometry",
]


def element_frame(
    items: list[tuple[shapely.Geometry, Element]], max_len: float | None
) -> gpd.GeoDataFrame:
    """Network elements as a sorted GeoDataFrame with ids; lines split to <= ``max_len`` m."""
    geoms: list[shapely.Geometry] = []
    attrs: list[Element] = []
    for geom, element in items:
        parts = split_line(geom, max_len) if max_len is not None else [geom]
        geoms += parts
        attrs += [element] * len(parts)
    frame = pd.DataFrame([e.__dict__ for e in attrs])
    geom_arr = round_geoms(np.array(geoms, dtype=object))
    first = shapely.get_point(geom_arr, 0) if max_len is not None else geom_arr
    frame["x"], frame["y"] = shapely.get_x(first), shapely.get_y(first)
    frame["geometry"] = geom_arr
    frame["t"], frame["s"] = frame["technology"].map(TECH_ORDER), frame["status"].map(STATUS_ORDER)
    frame = frame.sort_values(
        ["t", "s", "year", "owner", "x", "y"], ignore_index=True, kind="stable"
    )
    number = frame.groupby("technology", sort=False).cumcount().to_numpy() + 1
    frame["segment_id"] = [
        f"{ID_PREFIX[t]}-{n:05d}" for t, n in zip(frame["technology"], number, strict=True)
    ]
    frame["year"] = frame["year"].astype(np.int64)
    frame["open_network"] = frame["open_network"].astype(bool)
    return gpd.GeoDataFrame(frame[ELEMENT_COLUMNS], geometry="geometry", crs=CRS)


def keep_in_square(a: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    """Coordinates rounded to 0.1 m, kept strictly inside the address's 1 km square."""
    x = np.round(a["x"].to_numpy(dtype=np.float64), 1)
    y = np.round(a["y"].to_numpy(dtype=np.float64), 1)
    rutid = a["rutid"].astype(str)
    has = (rutid != "").to_numpy()
    e0 = rutid[has].str[:6].astype(np.float64).to_numpy()
    n0 = rutid[has].str[6:].astype(np.float64).to_numpy()
    x[has] = np.clip(x[has], e0 + 0.1, e0 + SQUARE_M - 0.1)
    y[has] = np.clip(y[has], n0 + 0.1, n0 + SQUARE_M - 0.1)
    return x, y


def address_frame(parts: Sequence[pd.DataFrame]) -> tuple[gpd.GeoDataFrame, npt.NDArray[Any]]:
    """The address layer (contract columns, sorted, with ids) and the internal kind per row."""
    a = pd.concat([p for p in parts if len(p)], ignore_index=True)
    a["x"], a["y"] = keep_in_square(a)
    a["number"] = a["number"].astype(np.int64)
    a = a.sort_values(["postcode", "street", "number", "x", "y"], ignore_index=True, kind="stable")
    out = pd.DataFrame(
        {
            "address_id": [f"{KOMMUN_CODE}-{i:06d}" for i in range(1, len(a) + 1)],
            "address": a["street"].astype(str) + " " + a["number"].astype(str),
            "postcode": a["postcode"].astype(str),
            "households": a["households"].astype(np.int64),
            "workplaces": a["workplaces"].astype(np.int64),
            "holiday_homes": a["holiday_homes"].astype(np.int64),
            "public_site": a["public_site"].astype(str),
            "connected": False,
        }
    )
    geometry = gpd.points_from_xy(a["x"], a["y"], crs=CRS)
    return gpd.GeoDataFrame(out, geometry=geometry, crs=CRS), a["kind"].to_numpy(dtype=object)


def within(points: npt.NDArray[Any], lines: npt.NDArray[Any], distance: float) -> BoolArray:
    """Which points lie within ``distance`` of any line (shapely STRtree dwithin)."""
    mask = np.zeros(len(points), dtype=bool)
    if len(lines):
        hits = shapely.STRtree(lines).query(points, predicate="dwithin", distance=distance)
        mask[np.unique(hits[0])] = True
    return mask


def in_service(network: gpd.GeoDataFrame, year: int) -> BoolArray:
    """Elements in service at ``year``: existing, or with completion year <= ``year``."""
    mask: BoolArray = ((network["status"] == "existing") | (network["year"] <= year)).to_numpy(
        dtype=bool
    )
    return mask


def set_connected(
    addresses: gpd.GeoDataFrame, network: gpd.GeoDataFrame, rng: np.random.Generator
) -> None:
    """About CONNECTED_SHARE of the addresses passed by existing fibre get ``connected`` True."""
    fibre = network[(network["technology"] == "fibre") & (network["status"] == "existing")]
    passed = within(addresses.geometry.to_numpy(), fibre.geometry.to_numpy(), PASSED_M)
    addresses["connected"] = passed & (rng.random(len(addresses)) < CONNECTED_SHARE)


def generate(inputs: Inputs, seed: int) -> Demo:
    """Generate addresses, network and nodes for the kommun from one seeded generator."""
    rng = np.random.default_rng(seed)
    regions = square_regions(inputs.squares, inputs.kommun)
    urban_name = classify_urban(inputs.squares, inputs.tatorter)
    urban, frames, attractors = generate_urban(inputs, urban_name, regions, rng)
    rural, roads = generate_rural(inputs, urban_name, regions, rng)
    holiday = holiday_area_sites(inputs.holiday_areas, rng)
    if len(holiday):
        holiday["road"], holiday["t"] = 0, np.arange(len(holiday), dtype=np.float64)
    pieces = urban_pieces(urban, frames)
    cells = street_cells(urban, frames, attractors)
    urban = name_urban(urban, attractors, rng)
    rural = name_rural(pd.concat([rural, holiday], ignore_index=True), inputs, rng)
    addresses, kind = address_frame([urban, rural])
    nodes_table = rural_nodes(inputs, roads, rural, rng)
    items = urban_network(pieces, cells, attractors, rng) + rural_network(
        nodes_table, inputs, roads, rng
    )
    network = element_frame(items, MAX_SEGMENT_M)
    nodes = element_frame(network_nodes(nodes_table), None)
    set_connected(addresses, network, rng)
    return Demo(addresses, network, nodes, kind, int((urban_name != "").sum()))


# --------------------------------------------------------------------------------------------
# Output


def write_layer(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """Write one GeoPackage layer with pyogrio, replacing the file."""
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def share(mask: BoolArray, weights: npt.NDArray[Any]) -> str:
    """Weighted share as 'xx.x % (n of N)'."""
    total = int(weights.sum())
    part = int(weights[mask].sum())
    return f"{100 * part / total:5.1f} % ({part:,} of {total:,})"


def passed_masks(demo: Demo) -> dict[str, BoolArray]:
    """Addresses within PASSED_M of fibre, by which fibre counts (STRtree dwithin)."""
    net = demo.network
    pts = demo.addresses.geometry.to_numpy()
    lines = net.geometry.to_numpy()
    fibre = (net["technology"] == "fibre").to_numpy()
    open_ = net["open_network"].to_numpy()
    now = in_service(net, EVALUATION_YEAR)
    return {
        f"open fibre in service {EVALUATION_YEAR}": within(
            pts, lines[fibre & open_ & now], PASSED_M
        ),
        "open fibre incl. all planned": within(pts, lines[fibre & open_], PASSED_M),
        f"any fibre in service {EVALUATION_YEAR}": within(pts, lines[fibre & now], PASSED_M),
        "any fibre incl. all planned": within(pts, lines[fibre], PASSED_M),
        f"50-250 m from fibre ({EVALUATION_YEAR})": within(pts, lines[fibre & now], NEAR_M)
        & ~within(pts, lines[fibre & now], PASSED_M),
    }


def coverage_lines(demo: Demo) -> list[str]:
    """Coverage checks of the generated data: shares, timeline and public sites."""
    a, net = demo.addresses, demo.network
    hh, wp = a["households"].to_numpy(), a["workplaces"].to_numpy()
    masks = passed_masks(demo)
    lines = ["", f"{'Within 50 m of ...':<34}{'households':<27}workplaces"]
    lines += [f"  {k:<32}{share(m, hh):<27}{share(m, wp)}" for k, m in masks.items()]
    lines.append("Timeline, households within 50 m of open fibre in service:")
    fibre = ((net["technology"] == "fibre") & net["open_network"]).to_numpy()
    pts, geoms = a.geometry.to_numpy(), net.geometry.to_numpy()
    for year in range(EVALUATION_YEAR, 2031):
        m = within(pts, geoms[fibre & in_service(net, year)], PASSED_M)
        lines.append(f"  {year}: {share(m, hh)}")
    pub = (a["public_site"] != "").to_numpy()
    any_now = masks[f"any fibre in service {EVALUATION_YEAR}"]
    open_now = masks[f"open fibre in service {EVALUATION_YEAR}"]
    lines.append(
        f"Public sites within 50 m of fibre in service {EVALUATION_YEAR}: "
        f"{int((pub & any_now).sum())} of {int(pub.sum())} "
        f"(open fibre: {int((pub & open_now).sum())})"
    )
    return lines


def address_lines(demo: Demo, inputs: Inputs) -> list[str]:
    """Counts of addresses, households, workplaces, holiday homes and public sites."""
    a = demo.addresses
    hh, wp = a["households"], a["workplaces"]
    pub = a.loc[a["public_site"] != "", "public_site"].value_counts().sort_index()
    kinds = pd.Series(demo.kind).value_counts().sort_index()
    x, y = a.geometry.x.to_numpy(), a.geometry.y.to_numpy()
    outside = int((~shapely.contains_xy(inputs.kommun, x, y)).sum())
    persons = int(inputs.squares["persons"].sum())
    return [
        f"SCB 1 km squares: {len(inputs.squares)} ({demo.urban_squares} urban); "
        f"persons {persons:,}",
        f"Addresses: {len(a):,} (outside the generalised kommun polygon: {outside})",
        f"  households {int(hh.sum()):,} (persons / {PERSONS_PER_HOUSEHOLD}, largest remainder); "
        f"in apartment buildings {int(hh[hh >= 4].sum()):,}",
        f"  workplaces {int(wp.sum()):,}; holiday homes {int(a['holiday_homes'].sum()):,}; "
        f"connected {int(a['connected'].sum()):,}",
        f"  mixed addresses (households and workplaces): {int(((hh > 0) & (wp > 0)).sum())}",
        "  kinds: " + ", ".join(f"{k} {v}" for k, v in kinds.items()),
        f"  public sites {int(pub.sum())}: " + ", ".join(f"{k} {v}" for k, v in pub.items()),
    ]


def network_lines(demo: Demo) -> list[str]:
    """Segments per technology/status with length, and the nodes."""
    net, nodes = demo.network, demo.nodes
    lines = ["Network segments (technology / status):"]
    for (tech, status), g in net.groupby(["technology", "status"]):
        years = ", ".join(f"{y}: {n}" for y, n in g["year"].value_counts().sort_index().items())
        when = f"  [{years}]" if status != "existing" else ""
        lines.append(
            f"  {tech:<6}{status:<19}{len(g):5d} segments {g.length.sum() / 1000:6.1f} km{when}"
        )
    lines.append(f"  segment length {net.length.min():.1f}-{net.length.max():.1f} m")
    by_tech = nodes["technology"].value_counts().sort_index()
    lines.append("Nodes: " + ", ".join(f"{t} {n}" for t, n in by_tech.items()))
    return lines


def summary_lines(demo: Demo, inputs: Inputs, seed: int) -> list[str]:
    """Human-readable summary of the generated demo data."""
    head = [f"Smedjebacken demo (kommun {KOMMUN_CODE}), seed {seed}"]
    return head + address_lines(demo, inputs) + network_lines(demo) + coverage_lines(demo)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2061, help="random seed (default 2061)")
    parser.add_argument(
        "--out-dir", type=Path, default=REPO_ROOT / "gis_data" / "demo", help="output folder"
    )
    parser.add_argument(
        "--gis-data", type=Path, default=REPO_ROOT / "gis_data", help="shipped real data folder"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the demo data, write the three GeoPackages and print a summary."""
    args = parse_args(argv)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": OGR_FIXED_DATE})
    inputs = read_inputs(args.gis_data)
    demo = generate(inputs, args.seed)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {
        "smedjebacken_addresses.gpkg": (demo.addresses, "addresses"),
        "smedjebacken_network.gpkg": (demo.network, "network"),
        "smedjebacken_nodes.gpkg": (demo.nodes, "nodes"),
    }
    for name, (frame, layer) in outputs.items():
        write_layer(frame, args.out_dir / name, layer)
    print("\n".join(summary_lines(demo, inputs, args.seed)))
    print("Files:")
    for name in outputs:
        print(f"  {sha256(args.out_dir / name)}  {args.out_dir / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
