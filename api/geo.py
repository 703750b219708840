"""Map layers as paged GeoJSON (WGS 84) and as Mapbox vector tiles (Web Mercator)."""

from __future__ import annotations

import math
from typing import Any

import mapbox_vector_tile
import numpy as np
import orjson
import pandas as pd
import shapely

from api.errors import BadParameterError
from api.store import Layer

EXTENT = 4096
#: Web Mercator half-width (m).
HALF = 20037508.342789244
MAX_ZOOM = 22
#: Tile buffer in pixels, so lines and polygons do not show seams at tile edges.
BUFFER_PX = 64


def parse_bbox(text: str | None, max_km2: float) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` in WGS 84, checked for order, range and size."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise BadParameterError(
            "bbox", f"expected four numbers minlon,minlat,maxlon,maxlat, found {text!r}"
        ) from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise BadParameterError(
            "bbox", f"expected four finite numbers minlon,minlat,maxlon,maxlat, found {text!r}"
        )
    x0, y0, x1, y1 = values
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise BadParameterError(
            "bbox", "expected -180 <= minlon < maxlon <= 180 and -90 <= minlat < maxlat <= 90"
        )
    km2 = (x1 - x0) * 111.32 * math.cos(math.radians((y0 + y1) / 2)) * (y1 - y0) * 110.57
    if km2 > max_km2:
        raise BadParameterError(
            "bbox", f"covers about {km2:.0f} km²; at most {max_km2:.0f} km² per request"
        )
    return (x0, y0, x1, y1)


def select(layer: Layer, bbox: tuple[float, float, float, float] | None) -> np.ndarray[Any, Any]:
    """Positions of features intersecting ``bbox`` (all when None), in stored order."""
    if bbox is None:
        return np.arange(len(layer.frame))
    return np.sort(layer.tree_wgs84.query(shapely.box(*bbox), predicate="intersects"))


def feature_collection(
    layer: Layer, properties: pd.DataFrame, positions: np.ndarray[Any, Any], limit: int, offset: int
) -> bytes:
    """A page of features as an encoded GeoJSON FeatureCollection with paging counts."""
    page = positions[offset : offset + limit]
    props = properties.iloc[page]
    records = orjson.loads(props.to_json(orient="records", double_precision=7))
    geoms = shapely.to_geojson(shapely.set_precision(layer.wgs84[page], 1e-7))
    # GEOS writes each geometry's JSON already: embedded as is, not parsed and written again.
    features = [
        {
            "type": "Feature",
            "properties": rec,
            "geometry": orjson.Fragment(g) if g is not None else None,
        }
        for rec, g in zip(records, geoms, strict=True)
    ]
    collection = {
        "type": "FeatureCollection",
        "numberMatched": len(positions),
        "numberReturned": len(features),
        "offset": offset,
        "nextOffset": offset + len(features) if offset + len(features) < len(positions) else None,
        "features": features,
    }
    return orjson.dumps(collection)


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web Mercator bounds of tile z/x/y (XYZ scheme), after checking the indices."""
    if not 0 <= z <= MAX_ZOOM:
        raise BadParameterError("z", f"expected a zoom from 0 to {MAX_ZOOM}, found {z}")
    n = 2**z
    if not (0 <= x < n and 0 <= y < n):
        raise BadParameterError("x/y", f"expected 0 <= x, y < {n} at zoom {z}, found x={x}, y={y}")
    size = 2 * HALF / n
    return (-HALF + x * size, HALF - (y + 1) * size, -HALF + (x + 1) * size, HALF - y * size)


def encode_tile(name: str, layer: Layer, properties: pd.DataFrame, z: int, x: int, y: int) -> bytes:
    """The layer's features in tile z/x/y, clipped and simplified to one pixel; b'' if empty."""
    x0, y0, x1, y1 = tile_bounds(z, x, y)
    size = x1 - x0
    pad = size * BUFFER_PX / EXTENT
    hits = np.sort(layer.tree_mercator.query(shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)))
    if len(hits) == 0:
        return b""
    geoms = layer.mercator[hits]
    is_point = shapely.get_type_id(geoms) == 0
    geoms = np.where(
        is_point,
        geoms,
        shapely.clip_by_rect(
            shapely.simplify(geoms, size / EXTENT, preserve_topology=True),
            x0 - pad,
            y0 - pad,
            x1 + pad,
            y1 + pad,
        ),
    )
    scale = EXTENT / size
    local = shapely.transform(geoms, lambda c: (c - np.array([x0, y0])) * scale)
    records = orjson.loads(properties.iloc[hits].to_json(orient="records", double_precision=5))
    features = [
        {"geometry": g, "properties": {k: v for k, v in rec.items() if v is not None}}
        for g, rec in zip(local, records, strict=True)
        if g is not None and not g.is_empty
    ]
    if not features:
        return b""
    data: bytes = mapbox_vector_tile.encode(
        [{"name": name, "features": features}], default_options={"extents": EXTENT}
    )
    return data
