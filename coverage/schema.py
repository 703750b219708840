"""Canonical column names, accepted aliases and code lists of the input data contracts.

Column names in input files are matched case-insensitively, after stripping spaces, against the
canonical name and its aliases (SPEC §2). The aliases cover the Swedish names planners use in
their own registers (``hushall``, ``arbetsstallen``, ``kommunkod``...).
"""

from __future__ import annotations

from typing import Final

#: Working CRS: SWEREF 99 TM. Distances are never computed in a geographic CRS.
DEFAULT_WORKING_CRS: Final = "EPSG:3006"

# --- address points -----------------------------------------------------------------------
ADDRESS_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "address_id": ("id", "adress_id", "addr_id", "adressid", "objektidentitet"),
    "households": (
        "hushall",
        "hushåll",
        "households_count",
        "antal_hushall",
        "permanent_households",
    ),
    "workplaces": ("arbetsstallen", "arbetsställen", "workplaces_count", "antal_arbetsstallen"),
    "holiday_homes": ("fritidshus", "holiday", "fritidshus_count", "holiday_ho"),
    "public_site": (
        "offentlig_verksamhet",
        "public",
        "public_site_category",
        "samhallsfunktion",
        "public_sit",
    ),
    "connected": ("ansluten", "is_connected", "anslutning"),
    "address": ("adress", "street_address", "gatuadress"),
    "postcode": ("postnummer", "postal_code", "postnr", "zip"),
    "kommun_code": ("kommunkod", "kommun_kod", "municipality_code", "kommun", "kommun_cod"),
}
# Shapefile truncates names to 10 characters: those forms are aliases too (holiday_ho...).

ADDRESS_COUNT_COLUMNS: Final = ("households", "workplaces", "holiday_homes")

#: Public-site categories named in SPEC §2. Other non-empty values are accepted as given
#: (municipalities have their own lists) and counted as public sites.
PUBLIC_SITE_CATEGORIES: Final = (
    "skola",
    "förskola",
    "vård",
    "omsorg",
    "bibliotek",
    "kommunhus",
    "räddningstjänst",
    "idrott",
    "kultur",
    "övrigt",
)

# --- network ------------------------------------------------------------------------------
NETWORK_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "segment_id": ("id", "segment", "segmentid", "span_id", "sträcka_id", "stracka_id"),
    "technology": ("tech", "teknik", "technology_type", "medium"),
    "status": ("state", "lifecycle_status", "skede"),
    "year": ("ar", "år", "completion_year", "fardigstallande_ar", "klar_ar"),
    "open_network": ("open", "oppet_nat", "öppet_nät", "is_open", "open_netwo"),
    "owner": ("agare", "ägare", "network_owner", "operator"),
    "max_down_mbps": ("down_mbps", "max_speed_mbps", "speed_mbps", "max_down_m"),
    "upgradeable_to_mbps": ("upgradeable_mbps", "upgrade_mbps", "upgradeabl"),
}

TECHNOLOGIES: Final = ("fibre", "hfc", "vdsl", "fwa", "duct")
TECHNOLOGY_ALIASES: Final[dict[str, str]] = {
    "fibre": "fibre",
    "fiber": "fibre",
    "ftth": "fibre",
    "fttb": "fibre",
    "fiber_optic": "fibre",
    "hfc": "hfc",
    "coax": "hfc",
    "cable": "hfc",
    "kabel-tv": "hfc",
    "docsis": "hfc",
    "vdsl": "vdsl",
    "vdsl2": "vdsl",
    "fwa": "fwa",
    "fixed_wireless": "fwa",
    "fast_radio": "fwa",
    "duct": "duct",
    "tomrör": "duct",
    "tomror": "duct",
    "empty_duct": "duct",
}

STATUSES: Final = ("existing", "under_construction", "planned")
STATUS_ALIASES: Final[dict[str, str]] = {
    "existing": "existing",
    "in_service": "existing",
    "inservice": "existing",
    "built": "existing",
    "befintlig": "existing",
    "under_construction": "under_construction",
    "underconstruction": "under_construction",
    "construction": "under_construction",
    "under_byggnad": "under_construction",
    "pågående": "under_construction",
    "planned": "planned",
    "planerad": "planned",
    "proposed": "planned",
}

# --- areas --------------------------------------------------------------------------------
AREA_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "area_id": ("id", "code", "kod", "tatortskod", "kommunkod", "kommun_kod", "rutid", "desokod"),
    "name": ("namn", "tatort", "kommun", "kommunnamn", "area_name"),
}

#: Area levels of the figures (SPEC §4, API ``area_level``).
AREA_LEVELS: Final = ("kommun", "tatort", "grid_250m", "grid_1km", "custom")

#: Id used for the part of the territory outside every tätort.
OUTSIDE_TATORT_ID: Final = "outside_tatort"

# --- CSV geometry columns -----------------------------------------------------------------
CSV_X_ALIASES: Final = ("x", "e", "easting", "east", "x_koord", "koordinat_e")
CSV_Y_ALIASES: Final = ("y", "n", "northing", "north", "y_koord", "koordinat_n")
CSV_LON_ALIASES: Final = ("lon", "lng", "long", "longitude")
CSV_LAT_ALIASES: Final = ("lat", "latitude")
CSV_WKT_ALIASES: Final = ("wkt", "geometry", "geom", "the_geom")

#: Output access classes in order of precedence (SPEC §3).
ACCESS_CLASSES: Final = ("connected", "passed", "near", "none")

TRUE_STRINGS: Final = frozenset({"true", "t", "yes", "y", "1", "ja", "j", "sant"})
FALSE_STRINGS: Final = frozenset({"false", "f", "no", "n", "0", "nej", "falskt", ""})
