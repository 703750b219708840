"""Read Open Fibre Data Standard (OFDS) GeoJSON into bbplan's network table.

OFDS describes fibre networks as *nodes* (points) interconnected by *spans* (routes). Its GeoJSON
publication format is one ``FeatureCollection`` of nodes and one of spans; each feature's
``properties`` hold the node or span object of the JSON schema (without ``location`` / ``route``,
which become the ``geometry``), organisation and phase references dereferenced to full objects,
the network's own properties under ``properties.network`` and, in files written by the reference
implementation, ``properties.featureType`` (``"span"`` / ``"node"``).

Sources read (OFDS 0.3.0 schema, plus the 0.4 renames noted below):

- Schema (``$defs/Span``, ``$defs/Node``, ``$defs/Organisation``; its ``$id``):
  https://raw.githubusercontent.com/Open-Telecoms-Data/open-fibre-data-standard/0__3__0/schema/network-schema.json
  Schema and codelist reference pages: https://standard.ofds.info/en/0__3__0/reference/schema
  and https://standard.ofds.info/en/0__3__0/reference/codelists#spanstatus (the schema's own
  ``https://standard.ofds.info/en/{{version}}/...`` links).
- GeoJSON publication format and transformation specification, repository file
  ``docs/reference/publication_formats/geojson.md``:
  https://github.com/Open-Telecoms-Data/open-fibre-data-standard/blob/0.2/docs/reference/publication_formats/geojson.md
- Span status codelist, repository file ``schema/codelists/closed/spanStatus.csv``.
- Reference GeoJSON converter (``featureType``, feature kinds):
  https://github.com/Open-Telecoms-Data/lib-cove-ofds/blob/main/libcoveofds/geojson.py
- OFDS 0.4 renames ``physicalInfrastructureProvider`` to ``transmissionMediumOwner``; both are
  read (see the 0.4 example ``examples/geojson/spans.geojson`` in the standard's repository).

Mapping to the network table (SPEC §2), one row per feature of the file
----------------------------------------------------------------------
``segment_id``
    ``properties.id`` as text. When the file holds features of more than one network
    (distinct ``properties.network.id``), it is prefixed ``"<network id>/<id>"``: OFDS ids are
    only *locally* unique (per network). When one file mixes spans and nodes, node ids are
    prefixed ``"node:"`` because OFDS spans and nodes have separate id spaces (the standard's
    own example has span ``"1"`` and node ``"1"``). A missing id gives ``""``.
``technology``
    ``"fibre"`` unless the span's ``transmissionMedium`` (closed codelist: fibre, microwave,
    copper, coaxial) is non-empty and does not contain ``"fibre"``; then the raw codes joined by
    ``";"`` (e.g. ``"microwave"``), which the network reader rejects. Nodes have no medium:
    ``"fibre"``.
``status``
    The spanStatus / nodeStatus codelist (both: proposed, planned, underConstruction, inactive,
    operational, decommissioned) is mapped ``operational`` -> ``existing``; ``underConstruction``
    and ``inactive`` -> ``under_construction`` (``inactive`` = passive infrastructure complete
    but not yet carrying traffic: not serving yet, expected soon); ``planned`` and ``proposed``
    -> ``planned``; ``decommissioned`` -> ``decommissioned`` (rejected by the caller with that
    reason). ``inService`` is not an OFDS code but is read as ``existing``. Anything else is
    passed through as given; a missing status gives ``""``.
``year``
    OFDS has no completion-year field. The only date on a span is ``readyForServiceDate``
    ("the date this span was ready to carry traffic"); when it holds a parseable ``YYYY...``
    date its year is used, for any status. Otherwise, for spans and nodes mapped to ``planned``
    or ``under_construction`` the ``default_year`` argument is used when given; else ``<NA>``
    (the caller then rejects planned elements without a year, as SPEC §2 requires).
``open_network``
    OFDS does not model retail service providers. ``networkProviders`` are "the organisations
    that operate the active network infrastructure ... In open business models, network
    providers provide wholesale access to service providers", and ``darkFibre`` is "whether
    access to dark fibre is available on this span". A span is counted as an open network
    (öppet nät: several providers can serve over it) when it lists **two or more distinct
    network providers** or when ``darkFibre`` is ``true``. A single provider without dark-fibre
    access, or missing data, gives ``False`` (conservative: targets that require an open network
    are not credited on assumptions). Nodes have no ``darkFibre``: providers only.
``owner``
    ``physicalInfrastructureProvider.name`` (0.3; "the organisation that owns the passive network
    infrastructure"), else ``transmissionMediumOwner.name`` (0.4), else ``network.name``, else
    ``""``.
``ofds_feature``
    ``properties.featureType`` when it is ``"span"`` / ``"node"``; else from the geometry
    (LineString / MultiLineString -> span, Point / MultiPoint -> node); else from properties only
    one kind has (``start``, ``end``, ``transmissionMedium``... -> span; ``accessPoint``,
    ``address``, ``power``... -> node); else the kind most features of the file have (the
    publication format puts one kind per file); else ``"span"``.
``geometry``
    ``shapely.geometry.shape`` of the feature geometry, kept whatever its type. A null geometry,
    or one that cannot be parsed (a warning names those), gives ``None``; the caller rejects the
    row with a reason.

No feature is dropped. The CRS is EPSG:4326 (RFC 7946) unless the file has a legacy top-level
``crs`` member or the network's ``crs`` (an OFDS network property) names another CRS;
``OGC:CRS84`` is returned as EPSG:4326. The newline-delimited "streaming option" is not read.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import pyproj
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

__all__ = ["OFDS_STATUS_MAP", "is_ofds", "read_ofds"]

#: Span / node status codes of OFDS 0.3-0.4 (closed codelists spanStatus, nodeStatus) and the
#: bbplan status each maps to. ``inService`` is a tolerated non-standard spelling.
OFDS_STATUS_MAP: Final[dict[str, str]] = {
    "operational": "existing",
    "inService": "existing",
    "underConstruction": "under_construction",
    "inactive": "under_construction",
    "planned": "planned",
    "proposed": "planned",
    "decommissioned": "decommissioned",
}

#: Mapped statuses for which ``default_year`` fills a missing year.
_NEEDS_YEAR: Final = frozenset({"planned", "under_construction"})

_FEATURE_KINDS: Final = ("span", "node")
_SPAN_GEOMETRIES: Final = frozenset({"LineString", "MultiLineString"})
_NODE_GEOMETRIES: Final = frozenset({"Point", "MultiPoint"})
#: Properties only a span has (OFDS 0.3 ``$defs/Span``).
_SPAN_ONLY_KEYS: Final = frozenset(
    {
        "start",
        "end",
        "directed",
        "readyForServiceDate",
        "transmissionMedium",
        "deployment",
        "darkFibre",
        "fibreType",
        "fibreCount",
        "fibreLength",
        "capacity",
        "supplier",
        "countries",
    }
)
#: Properties only a node has (OFDS 0.3 ``$defs/Node``).
_NODE_ONLY_KEYS: Final = frozenset({"accessPoint", "address", "internationalConnections", "power"})

_COLUMNS: Final = (
    "segment_id",
    "technology",
    "status",
    "year",
    "open_network",
    "owner",
    "ofds_feature",
    "geometry",
)
_YEAR_RE: Final = re.compile(r"^\s*(\d{4})(?:-|$)")
_GEOGRAPHIC_DEFAULT: Final = "EPSG:4326"


# --- small accessors (never KeyError) -------------------------------------------------------
def _props(feature: object) -> dict[str, Any]:
    """Return the feature's ``properties`` as a dict (empty when absent or malformed)."""
    if isinstance(feature, Mapping):
        props = feature.get("properties")
        if isinstance(props, Mapping):
            return dict(props)
    return {}


def _text(value: object) -> str:
    """Return ``value`` as text: strings stripped, numbers as ``str``, anything else ``""``."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        return str(value)
    return ""


def _name_of(org: object) -> str:
    """Return the ``name`` of an (dereferenced) organisation object, else ``""``."""
    return _text(org.get("name")) if isinstance(org, Mapping) else ""


def _network(props: Mapping[str, Any], fallback: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Return the feature's ``network`` object, else the collection-level one, else ``{}``."""
    net = props.get("network")
    if isinstance(net, Mapping):
        return net
    return fallback if fallback is not None else {}


def _network_key(net: Mapping[str, Any]) -> str:
    """Return the network's id, else its name, else ``""``."""
    return _text(net.get("id")) or _text(net.get("name"))


def _is_ofds_feature(feature: object, collection_network: Mapping[str, Any] | None) -> bool:
    """Return whether a feature carries OFDS node/span properties.

    True when ``properties.featureType`` is ``"span"`` / ``"node"`` (reference implementation)
    or when the feature has a ``network`` object with an id or name (required by the GeoJSON
    transformation specification; plain GeoJSON does not nest a network object). A
    collection-level ``network`` object marks every feature of the collection.
    """
    props = _props(feature)
    kind = props.get("featureType")
    if isinstance(kind, str) and kind.strip().lower() in _FEATURE_KINDS:
        return True
    return bool(_network_key(_network(props, collection_network)))


def _collection_network(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Return a top-level ``network`` object of a FeatureCollection, if any."""
    net = data.get("network")
    return net if isinstance(net, Mapping) and _network_key(net) else None


# --- is_ofds ----------------------------------------------------------------------------------
def _load_json_file(path: Path) -> object | None:
    """Parse a file as JSON; ``None`` when it is not a JSON object (cheap check first)."""
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return None
    try:
        with path.open(encoding="utf-8-sig") as fh:
            data: object = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data


def is_ofds(features_or_path: str | Path | Mapping[str, Any] | Iterable[Any]) -> bool:
    """Tell whether GeoJSON holds OFDS spans or nodes.

    Parameters
    ----------
    features_or_path : str, pathlib.Path, mapping or iterable of features
        A GeoJSON file path, a parsed FeatureCollection or Feature, or an iterable of parsed
        features.

    Returns
    -------
    bool
        True when at least one feature carries OFDS properties: ``properties.featureType`` of
        ``"span"`` / ``"node"``, or a ``properties.network`` object with an ``id`` or ``name``
        (or a collection-level ``network`` object). False for plain GeoJSON, for files that are
        not JSON objects (e.g. GeoPackage) and for paths that are not files.
    """
    if isinstance(features_or_path, str | Path):
        data = _load_json_file(Path(features_or_path))
    else:
        data = features_or_path
    collection_net: Mapping[str, Any] | None = None
    features: Iterable[Any]
    if isinstance(data, Mapping):
        if data.get("type") == "FeatureCollection":
            collection_net = _collection_network(data)
            raw = data.get("features")
            features = raw if isinstance(raw, list) else []
        elif data.get("type") == "Feature":
            features = [data]
        else:
            return False
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes):
        features = data
    else:
        return False
    return any(_is_ofds_feature(f, collection_net) for f in features)


# --- read_ofds: per-feature mapping -------------------------------------------------------------
def _kind_hint(feature: object, props: Mapping[str, Any]) -> str | None:
    """Return ``"span"`` / ``"node"`` from featureType, geometry type or kind-only properties."""
    kind = props.get("featureType")
    if isinstance(kind, str) and kind.strip().lower() in _FEATURE_KINDS:
        return kind.strip().lower()
    geom = feature.get("geometry") if isinstance(feature, Mapping) else None
    gtype = geom.get("type") if isinstance(geom, Mapping) else None
    if gtype in _SPAN_GEOMETRIES:
        return "span"
    if gtype in _NODE_GEOMETRIES:
        return "node"
    keys = set(props)
    if keys & _SPAN_ONLY_KEYS:
        return "span"
    if keys & _NODE_ONLY_KEYS:
        return "node"
    return None


def _technology(props: Mapping[str, Any]) -> str:
    """Return ``"fibre"`` unless ``transmissionMedium`` lists only non-fibre media."""
    media = props.get("transmissionMedium")
    if isinstance(media, str):
        media = [media]
    if not isinstance(media, list):
        return "fibre"
    codes = [t for t in (_text(m) for m in media) if t]
    if not codes or any(c.lower() == "fibre" for c in codes):
        return "fibre"
    return ";".join(codes)


def _status(props: Mapping[str, Any]) -> str:
    """Map the OFDS status code to bbplan's status (unknown codes as given)."""
    raw = _text(props.get("status"))
    return OFDS_STATUS_MAP.get(raw, raw)


def _year(props: Mapping[str, Any], status: str, default_year: int | None) -> int | None:
    """Return the year of ``readyForServiceDate``, else ``default_year`` for unbuilt elements."""
    match = _YEAR_RE.match(_text(props.get("readyForServiceDate")))
    if match:
        return int(match.group(1))
    if default_year is not None and status in _NEEDS_YEAR:
        return int(default_year)
    return None


def _open_network(props: Mapping[str, Any]) -> bool:
    """Return True for >= 2 distinct network providers or dark-fibre access (``darkFibre``)."""
    if props.get("darkFibre") is True:
        return True
    providers = props.get("networkProviders")
    if not isinstance(providers, list):
        return False
    keys = set()
    for org in providers:
        if isinstance(org, Mapping):
            key = _text(org.get("id")) or _text(org.get("name"))
            if key:
                keys.add(key)
    return len(keys) >= 2


def _owner(props: Mapping[str, Any], net: Mapping[str, Any]) -> str:
    """Return the infrastructure owner's name, else the network name, else ``""``."""
    return (
        _name_of(props.get("physicalInfrastructureProvider"))
        or _name_of(props.get("transmissionMediumOwner"))
        or _text(net.get("name"))
    )


def _geometry(feature: object) -> tuple[BaseGeometry | None, bool]:
    """Return ``(geometry, malformed)``: ``None`` for null or unparseable geometry."""
    geom = feature.get("geometry") if isinstance(feature, Mapping) else None
    if geom is None:
        return None, False
    try:
        return shape(geom), False
    except Exception:  # shapely raises several types for malformed GeoJSON geometry
        return None, True


def _crs(path: Path, data: Mapping[str, Any], nets: Iterable[Mapping[str, Any]]) -> str:
    """Return the CRS of the file: legacy ``crs`` member, else the networks' ``crs``, else 4326."""
    names: set[str] = set()
    legacy = data.get("crs")
    if isinstance(legacy, Mapping):
        lprops = legacy.get("properties")
        if isinstance(lprops, Mapping) and _text(lprops.get("name")):
            names.add(_text(lprops.get("name")))
    if not names:
        for net in nets:
            ncrs = net.get("crs")
            if isinstance(ncrs, Mapping):
                name = _text(ncrs.get("name")) or _text(ncrs.get("uri"))
                if name:
                    names.add(name)
    if not names:
        return _GEOGRAPHIC_DEFAULT
    resolved: set[str] = set()
    for name in names:
        try:
            crs = pyproj.CRS.from_user_input(name)
        except pyproj.exceptions.CRSError as exc:
            raise ValueError(f"{path}: unrecognised coordinate reference system {name!r}") from exc
        text = crs.to_string()
        resolved.add(_GEOGRAPHIC_DEFAULT if text == "OGC:CRS84" else text)
    if len(resolved) > 1:
        raise ValueError(
            f"{path}: networks declare different coordinate reference systems: "
            + ", ".join(sorted(resolved))
        )
    return resolved.pop()


def read_ofds(path: str | Path, *, default_year: int | None = None) -> gpd.GeoDataFrame:
    """Read one OFDS GeoJSON file (spans and/or nodes) as bbplan network rows.

    Parameters
    ----------
    path : str or pathlib.Path
        A GeoJSON FeatureCollection in the OFDS GeoJSON publication format: the spans file, the
        nodes file, or one collection mixing both.
    default_year : int, optional
        Completion year given to planned / proposed / under-construction (and inactive) spans
        and nodes that have no ``readyForServiceDate``. Without it their ``year`` is ``<NA>``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per feature of the file, in file order, with exactly the columns
        ``segment_id``, ``technology``, ``status``, ``year`` (nullable ``Int64``),
        ``open_network`` (bool), ``owner``, ``ofds_feature`` (``"span"`` / ``"node"``) and
        ``geometry``, in the file's CRS (EPSG:4326 unless the file declares another). The
        mapping rules are documented in the module docstring.

    Raises
    ------
    ValueError
        If the file is not JSON, not a GeoJSON FeatureCollection, or holds no OFDS feature;
        if it declares an unknown or conflicting CRS. The message names the file.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON file ({exc})") from exc
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        found = data.get("type") if isinstance(data, Mapping) else type(data).__name__
        raise ValueError(f"{path}: not a GeoJSON FeatureCollection (type is {found!r})")
    features = data.get("features")
    if not isinstance(features, list):
        raise ValueError(f"{path}: FeatureCollection has no 'features' array")
    collection_net = _collection_network(data)
    if not any(_is_ofds_feature(f, collection_net) for f in features):
        raise ValueError(
            f"{path}: no OFDS span or node features ({len(features)} features, none with a "
            "'network' object or an OFDS 'featureType' in its properties)"
        )

    props_list = [_props(f) for f in features]
    nets = [_network(p, collection_net) for p in props_list]
    hints = [_kind_hint(f, p) for f, p in zip(features, props_list, strict=True)]
    counts = Counter(h for h in hints if h is not None)
    majority = "node" if counts["node"] > counts["span"] else "span"
    kinds = [h if h is not None else majority for h in hints]
    several_networks = len({_network_key(n) for n in nets}) > 1
    mixed_kinds = len(set(kinds)) > 1

    rows: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
    malformed: list[str] = []
    for i, (feature, props, net, kind) in enumerate(
        zip(features, props_list, nets, kinds, strict=True)
    ):
        ofds_id = _text(props.get("id"))
        segment_id = ofds_id
        if segment_id:
            if mixed_kinds and kind == "node":
                segment_id = f"node:{segment_id}"
            net_key = _network_key(net)
            if several_networks and net_key:
                segment_id = f"{net_key}/{segment_id}"
        status = _status(props)
        geom, bad = _geometry(feature)
        if bad:
            malformed.append(ofds_id or f"#{i}")
        rows["segment_id"].append(segment_id)
        rows["technology"].append(_technology(props) if kind == "span" else "fibre")
        rows["status"].append(status)
        rows["year"].append(_year(props, status, default_year))
        rows["open_network"].append(_open_network(props))
        rows["owner"].append(_owner(props, net))
        rows["ofds_feature"].append(kind)
        rows["geometry"].append(geom)
    if malformed:
        warnings.warn(
            f"{path}: unreadable geometry set to None for features {', '.join(malformed)}",
            UserWarning,
            stacklevel=2,
        )

    frame = pd.DataFrame(
        {
            "segment_id": pd.Series(rows["segment_id"], dtype=object).astype(str),
            "technology": pd.Series(rows["technology"], dtype=object).astype(str),
            "status": pd.Series(rows["status"], dtype=object).astype(str),
            "year": pd.array(rows["year"], dtype="Int64"),
            "open_network": pd.Series(rows["open_network"], dtype=bool),
            "owner": pd.Series(rows["owner"], dtype=object).astype(str),
            "ofds_feature": pd.Series(rows["ofds_feature"], dtype=object).astype(str),
        }
    )
    return gpd.GeoDataFrame(
        frame,
        geometry=gpd.GeoSeries(rows["geometry"], index=frame.index),
        crs=_crs(path, data, (n for n in nets if n)),
    )
