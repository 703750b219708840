"""The strategy report: one self-contained ``report.html`` per run, in Swedish (SPEC §6).

Charts are drawn with matplotlib and embedded as PNG data URIs, so the file can be mailed or
published as it is. Code and docs stay in English; the text a planner reads is Swedish.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory

import matplotlib.pyplot as plt
import numpy as np
import shapely

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.pipeline import Result

POPULATION_SV = {
    "households": "hushåll",
    "workplaces": "arbetsställen",
    "households+workplaces": "hushåll och arbetsställen",
    "public_sites": "offentliga verksamheter",
    "holiday_homes": "fritidshus",
}
CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1c1c1c}
h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:2px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.6em 0 1.2em;font-size:.92em}
th,td{border-bottom:1px solid #e2e2e2;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.met{color:#1a7f37;font-weight:600}.notmet{color:#b42318;font-weight:600}
.muted{color:#666;font-size:.9em}figure{margin:1em 0}img{max-width:100%}
code{background:#f4f4f4;padding:0 .2em}th code{overflow-wrap:anywhere}
td.num{white-space:nowrap}.wide{overflow-x:auto}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _pct(value: float | None) -> str:
    return (
        "–"
        if value is None or (isinstance(value, float) and np.isnan(value))
        else (f"{100 * value:.1f} %".replace(".", ","))
    )


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:,.0f}".replace(",", " ")


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="diagram" src="data:image/png;base64,{data}">'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(
        f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _met(value: bool | None) -> str:
    if value is None:
        return "–"
    return '<span class="met">Ja</span>' if value else '<span class="notmet">Nej</span>'


def headline(result: Result) -> str:
    """Headline figures per target against the threshold."""
    timeline = result.timeline["targets"]
    rows = []
    for f in result.figures["targets"]:
        first = timeline[f["id"]]["first_year_met"]
        rows.append(
            [
                f"{_e(f['label'])}<br><code>{_e(f['id'])}</code>",
                _e(POPULATION_SV.get(f["population"], f["population"])),
                f"{_num(f['numerator'])} / {_num(f['denominator'])}",
                _pct(f["share"]),
                _pct(f["threshold"]),
                _met(f["met"]),
                _num(f["shortfall"]),
                _e(f["deadline"]),
                "ej enligt planen" if first is None else str(first),
            ]
        )
    return _table(
        [
            "Mål",
            "Räknas",
            "Enheter som uppfyller",
            "Andel",
            "Målnivå",
            "Uppfyllt",
            "Saknas (enheter)",
            "Målår",
            "Uppfylls år",
        ],
        rows,
        numeric={2, 3, 4, 6},
    )


def timeline_chart(result: Result) -> str:
    """Share per year against the threshold line, one panel per target."""
    targets = list(result.timeline["targets"].values())
    cols = min(3, len(targets))
    rows = int(np.ceil(len(targets) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, t in zip(axes.ravel(), targets, strict=False):
        years = [p["year"] for p in t["years"]]
        shares = [100 * (p["share"] or 0) for p in t["years"]]
        ax.plot(years, shares, marker="o", color="#1f6fb2", label="andel enligt planen")
        ax.axhline(100 * t["threshold"], color="#b42318", linestyle="--", label="målnivå")
        deadline = int(t["deadline"][:4])
        if years[0] <= deadline <= years[-1]:
            ax.axvline(deadline, color="#777", linestyle=":", label="målår")
        ax.set_title(t["id"], fontsize=9)
        ax.set_ylim(max(0, min([*shares, 100 * t["threshold"]]) - 5), 100.5)
        ax.set_xticks(years)
        ax.set_ylabel("procent")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(targets) :]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _png(fig)


#: Above this many squares the grid map is drawn as an image, one pixel per square (drawing
#: 10⁵ polygons one by one took most of the report's time on a national run).
RASTER_SQUARES = 5_000


def _raster(
    table: gpd.GeoDataFrame, values: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], dict[str, Any]]:
    """Square values as an image (NaN where no square), and its extent for ``imshow``."""
    bounds = shapely.bounds(table.geometry.to_numpy())
    size = float(np.median(bounds[:, 2] - bounds[:, 0]))
    x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
    col = np.round((bounds[:, 0] - x0) / size).astype(np.int64)
    row = np.round((bounds[:, 1] - y0) / size).astype(np.int64)
    image = np.full((row.max() + 1, col.max() + 1), np.nan)
    image[row, col] = values
    extent = [x0, x0 + size * image.shape[1], y0, y0 + size * image.shape[0]]
    return image, {"extent": extent, "interpolation": "nearest"}


def grid_map(result: Result, target_id: str) -> str:
    """Choropleth of the 1 km squares: share of the target's units passing."""
    table = result.area_tables["grid_1km"]
    kommun = result.area_tables["kommun"]
    fig, ax = plt.subplots(figsize=(8, 8))
    shares = table[f"{target_id}__share"].astype(float)
    style: dict[str, Any] = {"cmap": "RdYlGn", "vmin": 50, "vmax": 100}
    label = "andel som uppfyller målet (%)"
    if len(table) > RASTER_SQUARES:
        pixels, placement = _raster(table, 100 * shares.to_numpy())
        image = ax.imshow(pixels, **placement, **style, origin="lower")
        fig.colorbar(image, ax=ax, label=label, shrink=0.6)
    else:
        table.assign(share=100 * shares).plot(
            column="share",
            ax=ax,
            **style,
            edgecolor="#555",
            linewidth=0.2,
            legend=True,
            legend_kwds={"label": label, "shrink": 0.6},
            missing_kwds={"color": "#dddddd"},
        )
    kommun.boundary.plot(ax=ax, color="#222", linewidth=0.8)
    x0, y0, x1, y1 = table.total_bounds
    pad = 2000
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_axis_off()
    ax.set_title(f"Rutor 1 km (SWEREF 99 TM): {target_id}", fontsize=10)
    return _png(fig)


def tatort_table(result: Result) -> str:
    """Per tätort and outside tätort: units and share per target."""
    table = result.area_tables["tatort"].sort_values("households", ascending=False)
    ids = [f["id"] for f in result.figures["targets"]]
    rows = [
        [
            _e(r["name"]),
            _num(r["households"]),
            _num(r["workplaces"]),
            *[_pct(r[f"{t}__share"]) for t in ids],
        ]
        for _, r in table.iterrows()
    ]
    return _table(
        ["Tätort", "Hushåll", "Arbetsställen", *[f"<code>{_e(t)}</code>" for t in ids]],
        rows,
        numeric=set(range(1, 3 + len(ids))),
    )


def sensitivity_table(result: Result) -> str:
    """Every target's share at each homes-passed distance."""
    ids = [f["id"] for f in result.figures["targets"]]
    rows = []
    for s in result.figures["sensitivity"]:
        figs = s["targets"]
        rows.append(
            [
                f"{s['passed_distance_m']:.0f} m",
                *[f"{_pct(figs[t]['share'])} {'✓' if figs[t]['met'] else ''}" for t in ids],
            ]
        )
    return _table(
        ["Avstånd för 'passerad'", *[f"<code>{_e(t)}</code>" for t in ids]],
        rows,
        numeric=set(range(1, 1 + len(ids))),
    )


def gaps_section(result: Result) -> str:
    """The cheapest set per target, and the ten cheapest clusters per unit."""
    selection = result.figures["gaps"]["targets"]
    rows = [
        [
            f"<code>{_e(t)}</code>",
            _num(s["shortfall_units"]),
            _num(s["clusters"]),
            _num(s["selected_clusters"]),
            _num(s["selected_units"]),
            f"{s['selected_cost_sek'] / 1e6:.1f}".replace(".", ","),
            "Ja" if s["meets_target"] else "Nej",
        ]
        for t, s in selection.items()
    ]
    parts = [
        _table(
            [
                "Mål",
                "Saknas",
                "Kluster",
                "Valda kluster",
                "Enheter i valda",
                "Kostnad (MSEK)",
                "Räcker",
            ],
            rows,
            numeric={1, 2, 3, 4, 5},
        )
    ]
    gaps = result.gaps
    if len(gaps):
        first = result.figures["targets"][0]["id"]
        top = (
            gaps[gaps["target_id"] == first]
            .sort_values(["cost_per_unit_sek", "cluster_id"])
            .head(10)
        )
        rows = [
            [
                _e(r["cluster_id"]),
                _e(r["kommun_code"]),
                "tätort" if r["urban"] else "landsbygd",
                _num(r["households"]),
                _num(r["workplaces"]),
                _num(r["trench_m"]),
                _num(r["cost_sek"]),
                _num(r["cost_per_unit_sek"]),
            ]
            for _, r in top.iterrows()
        ]
        parts.append(f"<p>De tio billigaste klustren per enhet för <code>{_e(first)}</code>:</p>")
        parts.append(
            _table(
                [
                    "Kluster",
                    "Kommun",
                    "Typ",
                    "Hushåll",
                    "Arbetsställen",
                    "Schakt (m)",
                    "Kostnad (kr)",
                    "Kr per enhet",
                ],
                rows,
                numeric={3, 4, 5, 6, 7},
            )
        )
    return "".join(parts)


def methods(result: Result, manifest_inputs: list[dict[str, Any]]) -> str:
    """How the figures were made, and from which inputs."""
    s = result.settings
    cost = result.figures["gaps"]["cost_model"]
    rows = [
        [
            _e(i["role"]),
            _e(str(i.get("path", "")).rsplit("/", 1)[-1]),
            _e(str(i.get("sha256", ""))[:16]),
            _num(i.get("rows_read")),
            _num(i.get("rows_used")),
            _num(i.get("rows_rejected")),
        ]
        for i in manifest_inputs
    ]
    return (
        "<p><b>Ansluten</b>: adressen har en aktiv fiberanslutning. <b>Passerad</b>: nätet finns inom "
        f"{s.passed_distance_m:.0f} m (fiber i absoluta närheten; VDSL och fast radio når längre från "
        f"skåp och mast). <b>Nära</b>: inom {s.near_distance_m:.0f} m. Ett mål är uppfyllt på en adress när "
        "någon teknik når adressen med rätt status, hastighet, uppgraderbarhet och öppenhet. Andelarna "
        "räknar enheter (hushåll, arbetsställen, verksamheter), inte adresspunkter. Planerade och "
        "pågående utbyggnader räknas från sitt färdigställandeår.</p>"
        "<p><b>Kostnad för att stänga gap</b>: adresser som inte uppfyller ett mål grupperas (högst "
        f"{cost['cluster_distance_m']:.0f} m mellan grannar); schaktlängd = minsta spännande träd mellan "
        f"adresserna + närmaste väg till befintlig fiber, gånger {cost['detour_factor']:.2f}; "
        f"{cost['trench_urban_sek_per_m']:.0f} kr/m i tätort, {cost['trench_rural_sek_per_m']:.0f} kr/m "
        f"på landsbygden, {cost['connection_sek_per_unit']:.0f} kr per ansluten enhet. Billigaste urvalet "
        "väljs girigt efter kostnad per enhet (högst dubbla den optimala kostnaden).</p>"
        + _table(
            ["Indata", "Fil", "sha256", "Rader", "Använda", "Avvisade"], rows, numeric={3, 4, 5}
        )
    )


def render(result: Result, run_id: str, manifest_inputs: list[dict[str, Any]]) -> str:
    """The whole report as one HTML document."""
    kommuner = result.area_tables["kommun"].sort_values("households", ascending=False)
    main = kommuner.iloc[0]["name"] if len(kommuner) else ""
    first = result.figures["targets"][0]["id"]
    return f"""<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>Bredbandsrapport {_e(main)} – {_e(run_id)}</title>
<style>{CSS}</style></head><body>
<h1>Bredbandsrapport: {_e(main)}</h1>
<p class="muted">Körning <code>{_e(run_id)}</code>, utvärderad {_e(result.evaluation_date.isoformat())};
{_num(len(result.addresses))} adresser, {_num(int(result.addresses["households"].sum()))} hushåll,
{_num(int(result.addresses["workplaces"].sum()))} arbetsställen. Framtagen med bbplan.</p>
<h2>Måluppfyllelse</h2>{headline(result)}
<h2>Utveckling enligt utbyggnadsplanen</h2><figure>{timeline_chart(result)}</figure>
<h2>Karta: andel per kilometerruta</h2><figure>{grid_map(result, first)}</figure>
<h2>Tätorter och landsbygd</h2>{tatort_table(result)}
<h2>Känslighet: avståndet för 'passerad'</h2>{sensitivity_table(result)}
<h2>Gap och kostnad för att nå målen</h2>{gaps_section(result)}
<h2>Metod och indata</h2>{methods(result, manifest_inputs)}
</body></html>
"""
