"""The planner map page: a folium (Leaflet) map whose script reads the API's layer endpoints."""

from __future__ import annotations

import json
from typing import Any

import folium
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import CurrentRun, settings_of

router = APIRouter(tags=["map"])


@router.get("/map", response_class=HTMLResponse, operation_id="map_page")
def map_page(request: Request, data: CurrentRun) -> HTMLResponse:
    """The planner map (Swedish labels): area choropleths per target for everyone; address points
    coloured by access and the network by technology/status after entering a planner key."""
    settings = settings_of(request)
    lon0, lat0, lon1, lat1 = _bounds(data.layers["addresses"].wgs84)
    m = folium.Map(
        location=[(lat0 + lat1) / 2, (lon0 + lon1) / 2],
        zoom_start=11,
        tiles=None,
        control_scale=True,
        prefer_canvas=True,
    )
    if settings.basemap_url:
        folium.TileLayer(
            settings.basemap_url,
            attr=settings.basemap_attribution,
            name="Bakgrundskarta",
            control=False,
        ).add_to(m)
    # Local copies only: the page must work without internet access.
    m.default_js = [("leaflet", "/static/vendor/leaflet/leaflet.js"), ("bbplan", "/static/map.js")]
    m.default_css = [
        ("leaflet_css", "/static/vendor/leaflet/leaflet.css"),
        ("bbplan_css", "/static/map.css"),
    ]
    m.fit_bounds([[lat0, lon0], [lat1, lon1]])
    levels = [
        lv for lv in ("kommun", "tatort", "grid_1km", "grid_250m", "custom") if lv in data.layers
    ]
    config = {
        "runId": data.run_id,
        "evaluationDate": data.figures["evaluation_date"],
        "levels": levels,
        "defaultLevel": "grid_1km" if "grid_1km" in levels else levels[0],
        "maxLimit": settings.max_limit,
        "minUnits": settings.min_units,
        "hasGaps": "gaps" in data.layers,
    }
    root: Any = m.get_root()
    root.header.add_child(
        folium.Element('<link rel="icon" href="data:,"><title>bbplan – karta</title>')
    )
    # The map variable is created by a script later in the page: initialise once it exists.
    init = f"bbplanInit({m.get_name()}, {json.dumps(config)});"
    root.script.add_child(
        folium.Element(f'document.addEventListener("DOMContentLoaded", () => {{ {init} }});')
    )
    return HTMLResponse(root.render())


def _bounds(points: np.ndarray[Any, Any]) -> tuple[float, float, float, float]:
    import shapely

    x0, y0, x1, y1 = shapely.total_bounds(points)
    return float(x0), float(y0), float(x1), float(y1)
