"""Real-browser test of the planner map (``GET /map``) in headless Debian chromium.

A run is made on the shipped demo data, the real API is served by uvicorn on a free local
port, and Playwright drives the system chromium (``bash scripts/install_browser.sh``; no
``playwright install``, which would download a browser). Screenshots are written to
``test-artifacts/`` at the repository root: ``map.png`` (public view), ``map-popup.png``
(planner view with an address popup) and ``map-planner.png`` (planner view, second target).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from coverage.cli import app as cli_app

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_ID = "browser-demo"
PLANNER_KEY = "browser-test-planner-key"
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.browser


# --- fixtures: a run, the API, the browser -------------------------------------------------


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of ``bbplan run`` on the shipped demo data."""
    runs = tmp_path_factory.mktemp("map-browser") / "runs"
    result = CliRunner().invoke(
        cli_app,
        [
            "run",
            "--runs-dir",
            str(runs),
            "--evaluation-date",
            "2026-06-01",
            "--run-id",
            RUN_ID,
        ],
    )
    assert result.exit_code == 0, result.output
    assert (runs / RUN_ID / "manifest.json").is_file()
    return runs


@pytest.fixture(scope="module")
def base_url(runs_dir: Path) -> Iterator[str]:
    """The real API (uvicorn) on 127.0.0.1 and a free port, in a background thread."""
    import uvicorn

    from api.app import create_app
    from api.security import hash_key
    from api.settings import Settings

    settings = Settings(
        runs_dir=runs_dir,
        run_id=None,
        planner_key_sha256=[hash_key(PLANNER_KEY)],
        admin_key_sha256=[],
        cors_origins=[],
        basemap_url="",  # no external tiles: the page must work offline
        reload_interval_s=0,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; uvicorn serves this socket
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="bbplan-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            pytest.fail("the bbplan API did not start (see the captured log)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright; fails (never skips) when it is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: the browser test needs Debian's chromium. "
            "Install it with `bash scripts/install_browser.sh` (CI does).",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the Python package 'playwright' is missing: "
            "`pip install --constraint requirements.lock -e '.[dev]'` "
            "(do not run `playwright install`; the test uses /usr/bin/chromium)",
            pytrace=False,
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class PageLog:
    """Everything the page complained about: console errors, page errors, bad requests."""

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.failed_requests: list[str] = []
        self.external_requests: list[str] = []
        self.in_flight = 0
        #: Every request the page made, in order ("GET /path?query"), for failure messages.
        self.requests: list[str] = []

    def problems(self) -> list[str]:
        return [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
            *(f"failed request: {m}" for m in self.failed_requests),
            *(f"external request (blocked): {m}" for m in self.external_requests),
        ]


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[tuple[Any, PageLog]]:
    """A fresh page (own context, so no stored key) that records every problem it meets."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="sv-SE")
    log = PageLog()
    origin = urlsplit(base_url).netloc

    def guard(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == origin:
            route.continue_()
        else:  # nothing may leave the machine (no basemap, no CDN)
            log.external_requests.append(url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            log.console_errors.append(
                f"{msg.text} ({loc.get('url', '?')}:{loc.get('lineNumber', '?')})"
            )

    def on_response(resp: Any) -> None:
        if resp.status >= 400:
            log.failed_requests.append(f"{resp.status} {resp.request.method} {resp.url}")

    def on_request(req: Any) -> None:
        log.in_flight += 1
        parts = urlsplit(req.url)
        log.requests.append(f"{req.method} {parts.path}?{parts.query}")

    def on_finished(_req: Any) -> None:
        log.in_flight -= 1

    def on_failed(req: Any) -> None:
        log.in_flight -= 1
        log.failed_requests.append(f"{req.failure} {req.method} {req.url}")

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: log.page_errors.append(f"{exc}\n{exc.stack or ''}"))
    pg.on("request", on_request)
    pg.on("requestfinished", on_finished)
    pg.on("requestfailed", on_failed)
    pg.on("response", on_response)
    try:
        yield pg, log
    finally:
        context.close()


# --- helpers --------------------------------------------------------------------------------


def _wait(pg: Any, log: PageLog, expression: str, what: str) -> None:
    """Wait until ``expression`` is truthy in the page, or fail with what the page said."""
    try:
        pg.wait_for_function(expression, timeout=TIMEOUT_MS)
    except Exception as exc:
        state = pg.evaluate(
            "() => window.bbplan ? JSON.stringify({ready: window.bbplan.ready, "
            "error: window.bbplan.error, features: window.bbplan.features}) : 'no window.bbplan'"
        )
        status = pg.evaluate(
            "() => (document.querySelector('.bbplan-status') || {}).textContent || ''"
        )
        popup = pg.evaluate(f"() => {_POPUP_TEXT}")  # another layer's popup, if one opened
        pytest.fail(
            f"timed out waiting for {what} ({expression}); bbplan={state}; "
            f"popup text={popup!r}; status text={status!r}; problems={log.problems()}; "
            f"last requests={log.requests[-8:]}; {exc}",
            pytrace=False,
        )


def _settle(pg: Any, log: PageLog, quiet_ms: int = 400) -> None:
    """Wait until the page has had no request in flight for ``quiet_ms``.

    Entering the key makes map.js reload the planner layers several times in parallel (its
    change handler and one ``overlayadd`` per layer each call refresh()); every reload
    replaces the markers, so a click must wait until they are all done.
    """
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if log.in_flight > 0:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif (now - quiet_since) * 1000 >= quiet_ms:
            return
        pg.wait_for_timeout(50)  # lets Playwright deliver the request events
    pytest.fail(f"requests still in flight after {TIMEOUT_MS} ms", pytrace=False)


def _assert_clean(log: PageLog, when: str) -> None:
    assert not log.problems(), f"{when}:\n" + "\n".join(log.problems())


_DRAWN_PIXELS = """() => {
  const pane = document.querySelector('.leaflet-overlay-pane');
  if (!pane) return {paths: 0, canvases: 0, painted: 0};
  let painted = 0;
  const canvases = pane.querySelectorAll('canvas');
  for (const c of canvases) {
    if (!c.width || !c.height) continue;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  }
  return {paths: pane.querySelectorAll('path').length, canvases: canvases.length, painted};
}"""

# An address marker to click: inside the map, not under a control panel, at least 10 px from
# every other marker (so no marker drawn later covers it on the canvas) and at least 240 px
# from the map's sides (so its popup needs no sideways pan). prefer="low" takes the lowest
# one, whose popup opens upwards without moving the map; "high" the highest one, whose popup
# makes Leaflet pan the map down; "under_line" the highest one that a network line crosses
# (Leaflet's own hit test, `_containsPoint`, says the line is under the pointer too).
_ADDRESS_POINT = """(prefer) => {
  const map = window.bbplan.map;
  const box = map.getContainer().getBoundingClientRect();
  const pane = document.querySelector('.leaflet-overlay-pane');
  const layers = window.bbplan.layers.addresses.getLayers();
  const lines = window.bbplan.layers.network.getLayers();
  const pts = layers.map((l) => map.latLngToContainerPoint(l.getLatLng()));
  const found = [];
  layers.forEach((layer, i) => {
    const p = pts[i];
    if (p.x < 240 || p.x > box.width - 240 || p.y < 20 || p.y > box.height - 20) return;
    const x = box.left + p.x, y = box.top + p.y;
    const hit = document.elementFromPoint(x, y);
    if (!hit || !pane.contains(hit)) return;
    if (pts.some((q, j) => j !== i && q.distanceTo(p) < 10)) return;
    const at = map.containerPointToLayerPoint(p);
    if (prefer === 'under_line' && !lines.some((l) => l._containsPoint(at))) return;
    found.push({x, y, id: layer.feature.properties.address_id});
  });
  found.sort((a, b) => (prefer === 'low' ? b.y - a.y : a.y - b.y));
  return found[0] || null;
}"""

# Where each planner layer sits in the canvas's draw order (Leaflet draws the list front to
# back and gives a click to the last shape drawn under the pointer).
_DRAW_ORDER = """() => {
  const layers = window.bbplan.layers;
  const kind = new Map();
  for (const [name, group] of [['network', layers.network], ['addresses', layers.addresses]]) {
    for (const l of group.getLayers()) kind.set(l, name);
  }
  for (const group of Object.values(layers.areas)) {
    for (const l of group.getLayers()) kind.set(l, 'areas');
  }
  const renderer = layers.addresses.getLayers()[0]._renderer;
  const order = {areas: [], network: [], addresses: []};
  let i = 0;
  for (let o = renderer._drawFirst; o; o = o.next, i++) {
    const name = kind.get(o.layer);
    if (name) order[name].push(i);
  }
  return {
    areas_last: Math.max(-1, ...order.areas),
    network_first: Math.min(...order.network), network_last: Math.max(...order.network),
    addresses_first: Math.min(...order.addresses),
  };
}"""

# Holds back every network layer response for a while in the page, so the addresses arrive
# and are drawn first: the order a slow network link gives, made certain.
_NETWORK_LAST = """(() => {
  const fetch0 = window.fetch;
  window.fetch = async (...args) => {
    const resp = await fetch0(...args);
    if (String(args[0]).includes('/layers/network')) {
      await new Promise((done) => setTimeout(done, 300));
    }
    return resp;
  };
})();"""

_AREA_COLOURS = """() => window.bbplan.layers.areas.grid_1km.getLayers()
  .map((l) => l.options.fillColor).join(',')"""

_POPUP_TEXT = "(document.querySelector('.leaflet-popup-content') || {}).textContent || ''"


def _open_map(pg: Any, log: PageLog, base_url: str) -> None:
    """Open /map and wait until map.js has drawn the public layers."""
    response = pg.goto(f"{base_url}/map", wait_until="load")
    assert response is not None and response.status == 200, response and response.status
    _wait(
        pg,
        log,
        "() => window.bbplan && (window.bbplan.ready === true || !!window.bbplan.error)",
        "the map to load its layers",
    )
    error = pg.evaluate("() => window.bbplan.error || null")
    assert error is None, f"map.js reported: {error}; problems={log.problems()}"
    _assert_clean(log, "after loading /map")


def _enter_key(pg: Any, log: PageLog) -> None:
    """Type the planner key like a user and wait for the addresses and the network."""
    key = pg.locator("#bbplan-key")
    key.fill(PLANNER_KEY)
    key.press("Enter")  # commits the value: fires "change" (blur would too)
    key.blur()
    _wait(
        pg,
        log,
        "() => (window.bbplan.features.addresses || 0) > 0"
        " && (window.bbplan.features.network || 0) > 0",
        "addresses and network after entering the planner key",
    )
    assert pg.evaluate("() => window.bbplan.error || null") is None
    _settle(pg, log)
    _assert_clean(log, "after entering the planner key")


def _click_address(pg: Any, log: PageLog, prefer: str) -> dict[str, Any]:
    """Click an address marker and wait for its popup with the per-target answer."""
    point = pg.evaluate(_ADDRESS_POINT, prefer)
    assert point is not None, "no address marker visible and clickable on the map"
    pg.mouse.click(point["x"], point["y"])
    _wait(
        pg,
        log,
        f"() => /Uppfyllt|Ej uppfyllt/.test({_POPUP_TEXT})",
        f"the address popup for {point['id']}",
    )
    text = pg.locator(".leaflet-popup-content").first.inner_text()
    assert "Uppfyllt" in text or "Ej uppfyllt" in text, text
    assert point["id"] in text, f"popup is not for {point['id']}: {text!r}"
    return dict(point)


# --- the tests ------------------------------------------------------------------------------


def test_map_page_draws_layers_and_answers_a_planner_click(
    page: tuple[Any, PageLog], base_url: str
) -> None:
    pg, log = page
    ARTIFACTS.mkdir(exist_ok=True)
    _open_map(pg, log, base_url)

    # Public view: the 1 km grid choropleth is drawn, with Swedish labels.
    features = pg.evaluate("() => window.bbplan.features")
    assert features.get("grid_1km", 0) > 0, features
    assert "addresses" not in features and "network" not in features, features
    drawn = pg.evaluate(_DRAWN_PIXELS)
    assert drawn["paths"] > 0 or (drawn["canvases"] > 0 and drawn["painted"] > 0), drawn
    assert pg.evaluate("() => window.bbplan.layers.areas.grid_1km.getLayers().length") > 0
    panel = pg.inner_text(".bbplan-panel")
    for label in ("Mål", "Planerarnyckel", "Adresser", "Nät", "Områden (andel mot målet)"):
        assert label in panel, f"{label!r} missing from the panel: {panel!r}"
    options = pg.eval_on_selector_all("#bbplan-target option", "os => os.map((o) => o.value)")
    assert len(options) >= 2, options
    pg.screenshot(path=str(ARTIFACTS / "map.png"))

    # Planner view: the key loads the addresses and the network; a marker click answers.
    _enter_key(pg, log)
    features = pg.evaluate("() => window.bbplan.features")
    assert features["addresses"] > 0 and features["network"] > 0, features
    point = _click_address(pg, log, prefer="low")
    _settle(pg, log)
    assert point["id"] in pg.evaluate(f"() => {_POPUP_TEXT}"), "the popup closed again"
    pg.screenshot(path=str(ARTIFACTS / "map-popup.png"))
    pg.click(".leaflet-popup-close-button")
    pg.locator(".leaflet-popup").wait_for(state="detached")

    # The target picker restyles the areas for another target.
    before = pg.evaluate("() => window.bbplan.state.target.id")
    colours_before = pg.evaluate(_AREA_COLOURS)
    other = next(o for o in options if o != before)
    pg.select_option("#bbplan-target", other)
    _wait(
        pg,
        log,
        f"() => window.bbplan.state.target && window.bbplan.state.target.id === {other!r}",
        f"the target picker to switch to {other}",
    )
    assert pg.input_value("#bbplan-target") == other
    assert pg.evaluate(_AREA_COLOURS) != colours_before, "areas not restyled for the new target"
    _settle(pg, log)
    pg.wait_for_timeout(200)  # let the canvas repaint before the screenshot
    pg.screenshot(path=str(ARTIFACTS / "map-planner.png"))

    _assert_clean(log, "at the end")
    assert (ARTIFACTS / "map.png").stat().st_size > 0
    assert (ARTIFACTS / "map-planner.png").stat().st_size > 0
    assert (ARTIFACTS / "map-popup.png").stat().st_size > 0


def test_address_popup_stays_open_when_it_pans_the_map(
    page: tuple[Any, PageLog], base_url: str
) -> None:
    pg, log = page
    _open_map(pg, log, base_url)
    _enter_key(pg, log)
    centre = pg.evaluate("() => window.bbplan.map.getCenter()")
    point = _click_address(pg, log, prefer="high")
    _settle(pg, log)
    assert pg.evaluate("() => window.bbplan.map.getCenter()") != centre, "the map did not pan"
    _assert_clean(log, "after the click")
    assert point["id"] in pg.evaluate(f"() => {_POPUP_TEXT}"), (
        f"the popup for {point['id']} closed after the map panned"
    )


def test_a_marker_under_a_network_line_answers_for_its_address(
    page: tuple[Any, PageLog], base_url: str
) -> None:
    """The network's response comes last, so its lines are drawn after the markers; the map
    must still put the markers on top, and a click on a marker a fibre line crosses must open
    that address's answer, not the line's popup."""
    pg, log = page
    pg.add_init_script(_NETWORK_LAST)
    _open_map(pg, log, base_url)
    _enter_key(pg, log)
    order = pg.evaluate(_DRAW_ORDER)
    assert order["areas_last"] < order["network_first"], order
    assert order["network_last"] < order["addresses_first"], order
    point = pg.evaluate(_ADDRESS_POINT, "under_line")
    assert point is not None, "no address marker with a network line across it on the map"
    _click_address(pg, log, prefer="under_line")
    _assert_clean(log, "after the click")


def test_report_renders_charts_and_tables_in_chromium(browser: Any, runs_dir: Path) -> None:
    """report.html is self-contained: it opens from the file system with no request leaving
    it, shows the headline table, the timeline and grid-map charts, the tätort, sensitivity
    and gap tables, and the methods; a screenshot is kept as an artifact."""
    report = runs_dir / RUN_ID / "report.html"
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="sv-SE")
    requests: list[str] = []
    context.on("request", lambda req: requests.append(req.url))
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(report.as_uri())
    pg.wait_for_load_state("load")
    headings = pg.locator("h2").all_inner_texts()
    assert headings == [
        "Måluppfyllelse",
        "Utveckling enligt utbyggnadsplanen",
        "Karta: andel per kilometerruta",
        "Tätorter och landsbygd",
        "Känslighet: avståndet för 'passerad'",
        "Gap och kostnad för att nå målen",
        "Metod och indata",
    ]
    images = pg.locator("img")
    assert images.count() == 2  # timeline chart and grid map
    for i in range(images.count()):
        assert images.nth(i).get_attribute("src").startswith("data:image/png;base64,")
        assert images.nth(i).evaluate("img => img.naturalWidth") > 300  # decoded, not broken
    headline = pg.locator("table").first.inner_text()
    assert "kommun_hushall_100_open" in headline and "Nej" in headline
    assert "Smedjebacken" in pg.locator("table").nth(1).inner_text()  # tätort table
    assert "200 m" in pg.locator("table").nth(2).inner_text()  # sensitivity rows 20..200 m
    assert pg.locator("table").count() >= 6
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    context.close()
