"""``map.html``: a self-contained folium map of a run, for sharing (SPEC §6).

It holds the same layers as the API's planner map (area choropleths, addresses by access
class, the network by technology and status, gap clusters), with Leaflet inlined so it opens
without internet access. It contains address points and network routes: it is a planner
document, to be shared like the run folder itself, never published.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from jinja2 import Template

from coverage._points import XY_COLUMNS
from coverage.areas import drawn_outlines

if TYPE_CHECKING:
    from coverage.pipeline import Result

LEAFLET = Path(__file__).resolve().parent.parent / "api" / "static" / "vendor" / "leaflet"
#: Above this many addresses the points are left out (the file would be too large to share).
MAX_POINTS = 50_000
#: Above this many features a layer is left out, named in a note on the map: a national run
#: has ~10⁶ grid squares and 10⁵ network elements, which no browser opens as inline GeoJSON
#: (the API's planner map serves them as vector tiles instead).
MAX_LAYER_FEATURES = 25_000
ACCESS_COLOURS = {"connected": "#0b5d1e", "passed": "#2ca02c", "near": "#ff9f1c", "none": "#d62728"}
ACCESS_SV = {
    "connected": "Ansluten",
    "passed": "Passerad",
    "near": "Nära nät",
    "none": "Saknar nät",
}
TECH_COLOURS = {
    "fibre": "#6a3d9a",
    "hfc": "#1f78b4",
    "vdsl": "#b15928",
    "fwa": "#e31a1c",
    "duct": "#777777",
}


class _Layer(folium.GeoJson):
    """folium's GeoJson layer, its script put into the page as finished text.

    folium adds each layer's rendered script (the embedded GeoJSON included) to the page as a
    new Jinja template: compiled again, which took seconds for the megabytes of a national
    map, and evaluated, so an address id or area name holding ``{{ 7*7 }}`` became ``49`` and
    one holding ``{% x`` stopped the run. The page gets a placeholder instead, and
    :func:`_put_scripts` writes each script in its place once the page is rendered.
    """

    _template = Template(
        "{% macro script(this, kwargs) %}/*bbplan-layer:{{ this.get_name() }}*/{% endmacro %}"
    )

    def __init__(self, data: gpd.GeoDataFrame, **kwargs: Any) -> None:
        super().__init__(feature_collection(data), **kwargs)

    def render(self, **kwargs: Any) -> Any:
        super().render(**kwargs)  # type: ignore[no-untyped-call]  # folium's feature styles
        self.script = str(folium.GeoJson._template.module.script(self, kwargs))


def feature_collection(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """``frame`` in EPSG:4326 as the GeoJSON dict folium makes of a GeoDataFrame (its
    ``__geo_interface__`` through ``json``: missing values null, the index as ids, bounding
    boxes), with the geometries written by GEOS, whose numbers are Python's shortest
    round-trip digits. Folium walked every coordinate of a national tätort layer in Python,
    twice: most of the map's time, in a run's busiest moment."""
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs(4326)
    geoms = frame.geometry.to_numpy()
    # Missing and empty geometries are null, as geopandas writes them; one parse for all.
    null = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    texts = np.where(null, "null", shapely.to_geojson(np.where(null, None, geoms)))
    shapes = json.loads("[" + ",".join(texts.tolist()) + "]")
    columns = frame.columns.drop(frame.geometry.name)
    values = frame[columns].astype(object)
    values[pd.isna(frame[columns]).to_numpy()] = None
    boxes = shapely.bounds(geoms).tolist()  # null for null geometries, below
    features = [
        {
            "id": str(i),
            "type": "Feature",
            "properties": dict(zip(columns, row, strict=True)),
            "geometry": shape,
            "bbox": None if shape is None else box,
        }
        for i, row, shape, box in zip(
            np.asarray(frame.index), values.to_numpy(), shapes, boxes, strict=True
        )
    ]
    bbox = frame.total_bounds.tolist()
    return {"type": "FeatureCollection", "features": features, "bbox": bbox}


_PLACEHOLDER = re.compile(r"/\*bbplan-layer:([A-Za-z0-9_]+)\*/")


def _put_scripts(html: str, layers: list[_Layer]) -> str:
    """Each layer's script in place of its placeholder, in one pass over the page (so a
    placeholder's text inside a layer's data is never replaced)."""
    scripts = {layer.get_name(): layer.script for layer in layers}
    return _PLACEHOLDER.sub(lambda m: scripts[m.group(1)], html)


def _share_colour(share: float | None, threshold: float) -> str:
    if share is None or share != share:  # NaN
        return "#bbbbbb"
    if share >= threshold:
        return "#1a9850"
    if share >= threshold - 0.05:
        return "#fee08b"
    if share >= threshold - 0.2:
        return "#fc8d59"
    return "#d73027"


def _area_layer(
    frame: gpd.GeoDataFrame,
    name: str,
    target: dict[str, Any],
    show: bool,
    drawn: gpd.GeoSeries | None = None,
) -> _Layer:
    tid, threshold = target["id"], float(target["threshold"])
    data = frame[["area_id", "name", f"{tid}__share", "households", "geometry"]].copy()
    # Drawn at map resolution (a national tätort layer held 10⁶ vertices, most of the time
    # spent writing the map): the outlines the pipeline drew with the layer, else drawn here.
    drawn = drawn_outlines(frame) if drawn is None else drawn
    outlines = drawn.reindex(pd.Index(data["area_id"])).to_numpy()
    data = data.set_geometry(gpd.GeoSeries(outlines, index=data.index, crs=drawn.crs))
    data = data[~data.geometry.isna()]
    data[f"{tid}__share"] = data[f"{tid}__share"].astype(float)
    return _Layer(
        data,
        name=name,
        show=show,
        style_function=lambda f: {
            "color": "#444",
            "weight": 0.6,
            "fillOpacity": 0.55,
            "fillColor": _share_colour(f["properties"].get(f"{tid}__share"), threshold),
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["name", f"{tid}__share", "households"],
            aliases=["Område", "Andel", "Hushåll"],
            localize=True,
        ),
    )


def render(result: Result, run_id: str) -> str:
    """The map as one HTML document."""
    # The extent from the working CRS's bounds (densified edges): reprojecting 5·10⁶ points
    # for it took 5 s of a national run.
    x, y = (result.addresses[c].to_numpy(dtype=np.float64) for c in XY_COLUMNS)
    bx0, by0, bx1, by1 = x.min(), y.min(), x.max(), y.max()
    x0, y0, x1, y1 = pyproj.Transformer.from_crs(
        result.crs, "EPSG:4326", always_xy=True
    ).transform_bounds(bx0, by0, bx1, by1, densify_pts=21)
    m = folium.Map(
        location=[(y0 + y1) / 2, (x0 + x1) / 2], tiles=None, control_scale=True, prefer_canvas=True
    )
    m.default_js = []
    m.default_css = []
    root: Any = m.get_root()
    css = (LEAFLET / "leaflet.css").read_text(encoding="utf-8")
    js = (LEAFLET / "leaflet.js").read_text(encoding="utf-8")
    title = f"<title>bbplan – karta {run_id}</title>"
    root.header.add_child(folium.Element(f"{title}<style>{css}</style><script>{js}</script>"))
    target = result.figures["targets"][0]
    levels = [
        ("grid_1km", "Rutor 1 km"),
        ("grid_250m", "Rutor 250 m"),
        ("tatort", "Tätorter"),
        ("kommun", "Kommuner"),
    ]
    omitted: list[tuple[str, int]] = []
    layers: list[_Layer] = []

    def add(make: Callable[[], _Layer], label: str, count: int) -> None:
        """Build and add a layer, unless it is too large to embed (then name it in a note)."""
        if count > MAX_LAYER_FEATURES:
            omitted.append((label, count))
        else:
            layers.append(make())
            layers[-1].add_to(m)

    for level, label in levels:
        table = result.area_tables.get(level)
        # Empty layers are left out: folium cannot attach tooltips to no features.
        if table is not None and table.geometry.notna().any():
            name, show = f"{label}: {target['id']}", level == "grid_1km"
            drawn = result.drawn.get(level)
            add(partial(_area_layer, table, name, target, show, drawn), label, len(table))
    add(partial(_network_layer, result), "Nät", len(result.network))
    gaps = (
        result.gaps[result.gaps["target_id"] == target["id"]] if len(result.gaps) else result.gaps
    )
    if len(gaps):
        add(partial(_gap_layer, gaps), "Gap (kluster)", len(gaps))
    if len(result.addresses) <= MAX_POINTS:
        layers.append(_address_layer(result.address_points().to_crs(4326)))
        layers[-1].add_to(m)
    else:
        omitted.append(("Adresser", len(result.addresses)))
    if omitted:
        root.html.add_child(folium.Element(_omitted_note(omitted)))
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[y0, x0], [y1, x1]])
    return _put_scripts(root.render(), layers)


def _omitted_note(omitted: list[tuple[str, int]]) -> str:
    """A box on the map naming the layers too large to embed."""
    items = "".join(
        f"<li>{label}: {count:,} objekt</li>".replace(",", "\u00a0") for label, count in omitted
    )
    return (
        '<div id="omitted-layers" style="position:fixed;bottom:24px;left:10px;z-index:1000;'
        'background:#fff;padding:6px 10px;border:1px solid #999;font:13px sans-serif">'
        f"För stora för att bäddas in i filen (se planeringskartan i API:t):<ul>{items}</ul></div>"
    )


def _gap_layer(gaps: gpd.GeoDataFrame) -> _Layer:
    return _Layer(
        gaps.to_crs(4326)[["cluster_id", "units", "cost_sek", "geometry"]],
        name="Gap (kluster)",
        show=False,
        style_function=lambda f: {"color": "#b42318", "weight": 2, "fillOpacity": 0.1},
        tooltip=folium.GeoJsonTooltip(
            fields=["cluster_id", "units", "cost_sek"],
            aliases=["Kluster", "Enheter", "Kostnad (kr)"],
        ),
    )


def _network_layer(result: Result) -> _Layer:
    net = result.network.to_crs(4326)[
        ["segment_id", "technology", "status", "year", "in_service", "geometry"]
    ]
    net = net.assign(
        year=net["year"].astype("Float64").astype(object).where(net["year"].notna(), None)
    )
    return _Layer(
        net,
        name="Nät",
        show=True,
        style_function=lambda f: {
            "color": TECH_COLOURS.get(f["properties"]["technology"], "#000"),
            "weight": 3,
            "dashArray": None if f["properties"]["in_service"] else "6 4",
        },
        marker=folium.CircleMarker(radius=6),
        tooltip=folium.GeoJsonTooltip(
            fields=["segment_id", "technology", "status", "year"],
            aliases=["Sträcka", "Teknik", "Status", "År"],
        ),
    )


def _address_layer(addresses: gpd.GeoDataFrame) -> _Layer:
    pts = addresses[
        ["address_id", "access", "technology", "max_down_mbps", "households", "geometry"]
    ].copy()
    pts["access_sv"] = pts["access"].map(ACCESS_SV)
    return _Layer(
        pts,
        name="Adresser",
        show=True,
        marker=folium.CircleMarker(radius=3, weight=0.5, fill_opacity=0.9),
        style_function=lambda f: {
            "color": "#222",
            "fillColor": ACCESS_COLOURS.get(f["properties"]["access"], "#999"),
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["address_id", "access_sv", "technology", "max_down_mbps", "households"],
            aliases=["Adress", "Tillgång", "Teknik", "Mbit/s", "Hushåll"],
        ),
    )
