/* bbplan planner map: reads layers from the API's GeoJSON endpoints (no data baked in). */
"use strict";

const SV = {
  access: { connected: "Ansluten", passed: "Passerad (fiber i absoluta närheten)", near: "Nära nät", none: "Saknar nät" },
  technology: { fibre: "Fiber", hfc: "Kabel-tv (HFC)", vdsl: "VDSL", fwa: "Fast radio (FWA)", duct: "Tomrör", "": "–" },
  status: { existing: "Befintlig", under_construction: "Under byggnad", planned: "Planerad" },
  reason: {
    "": "uppfyllt", no_network: "inget nät i närheten", too_far: "för långt till nätet",
    not_connected: "passerad men inte ansluten", speed_below: "för låg hastighet",
    not_gigabit_ready: "inte uppgraderbart till 1 Gbit/s", not_open_network: "inte ett öppet nät",
    planned_before_deadline: "planerad utbyggnad före målåret", planned_after_deadline: "planerad utbyggnad efter målåret",
    out_of_scope: "omfattas inte av målet",
  },
  levels: { kommun: "Kommuner", tatort: "Tätorter", grid_1km: "Rutor 1 km", grid_250m: "Rutor 250 m", custom: "Egna områden" },
};
const ACCESS_COLOURS = { connected: "#0b5d1e", passed: "#2ca02c", near: "#ff9f1c", none: "#d62728" };
const TECH_COLOURS = { fibre: "#6a3d9a", hfc: "#1f78b4", vdsl: "#b15928", fwa: "#e31a1c", duct: "#777777" };
const KEY_STORE = "bbplan.apiKey";

function shareColour(share, threshold) {
  if (share === null || share === undefined) return "#bbbbbb";
  if (share >= threshold) return "#1a9850";
  if (share >= threshold - 0.05) return "#fee08b";
  if (share >= threshold - 0.2) return "#fc8d59";
  return "#d73027";
}

function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1).replace(".", ",") + " %"; }

function esc(text) {
  return String(text === null || text === undefined ? "" : text)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function bbplanInit(map, config) {
  const state = { key: localStorage.getItem(KEY_STORE) || "", target: null, targets: [], loaded: {} };
  const status = L.DomUtil.create("div", "bbplan-status");
  window.bbplan = { map: map, state: state, layers: {}, features: {} };

  function headers() { return state.key ? { "X-API-Key": state.key } : {}; }
  async function getJson(url) {
    const resp = await fetch(url, { headers: headers() });
    if (!resp.ok) throw new Error(url + " → " + resp.status);
    return resp.json();
  }
  function bboxParam() {
    const b = map.getBounds();
    return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
  }

  const areaLayers = {};
  for (const level of config.levels) {
    areaLayers[level] = L.geoJSON(null, {
      style: (f) => {
        const p = f.properties, t = state.target;
        const share = t ? p[t.id + "__share"] : null;
        return { color: "#444", weight: level === "kommun" ? 2 : 0.5, fillOpacity: 0.55,
                 fillColor: t ? shareColour(share, t.threshold) : "#bbbbbb" };
      },
      onEachFeature: (f, layer) => layer.on("click", (e) => {
        L.DomEvent.stopPropagation(e);
        const p = f.properties, t = state.target;
        layer.bindPopup(`<div class="bbplan-popup"><b>${esc(p.name)}</b> (${esc(SV.levels[level])})<br>` +
          (t ? `${esc(t.label)}<br>Andel: <b>${pct(p[t.id + "__share"])}</b> (mål ${pct(t.threshold)})` +
               (p[t.id + "__suppressed"] ? "<br><i>För få enheter – döljs</i>" : "") : "") + "</div>").openPopup();
      }),
    });
  }
  const addressLayer = L.geoJSON(null, {
    pointToLayer: (f, latlng) => L.circleMarker(latlng, {
      radius: 4, weight: 1, color: "#222", fillOpacity: 0.9, fillColor: ACCESS_COLOURS[f.properties.access] || "#999" }),
    onEachFeature: (f, layer) => layer.on("click", (e) => { L.DomEvent.stopPropagation(e); showAddress(f.properties.address_id, layer); }),
  });
  const networkLayer = L.geoJSON(null, {
    style: (f) => ({ color: TECH_COLOURS[f.properties.technology] || "#000", weight: 3,
                     dashArray: f.properties.in_service ? null : "6 4" }),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 6, color: TECH_COLOURS[f.properties.technology] || "#000" }),
    onEachFeature: (f, layer) => layer.bindPopup(`<div class="bbplan-popup"><b>${esc(f.properties.segment_id)}</b><br>` +
      `${esc(SV.technology[f.properties.technology])}, ${esc(SV.status[f.properties.status])}` +
      (f.properties.year ? ` (${f.properties.year})` : "") + `<br>Ägare: ${esc(f.properties.owner)}<br>` +
      `Öppet nät: ${f.properties.open_network ? "ja" : "nej"}</div>`),
  });
  const gapsLayer = L.geoJSON(null, {
    filter: (f) => !state.target || f.properties.target_id === state.target.id,
    style: (f) => ({ color: "#b42318", weight: f.properties.selected ? 3 : 1, fillOpacity: 0.08,
                     dashArray: f.properties.selected ? null : "4 4" }),
    onEachFeature: (f, layer) => layer.bindPopup(`<div class="bbplan-popup"><b>Gap ${esc(f.properties.cluster_id)}</b><br>` +
      `${f.properties.units} enheter, ${f.properties.addresses} adresser<br>` +
      `Schakt ${Math.round(f.properties.trench_m)} m, kostnad ${Math.round(f.properties.cost_sek).toLocaleString("sv-SE")} kr ` +
      `(${Math.round(f.properties.cost_per_unit_sek).toLocaleString("sv-SE")} kr/enhet)<br>` +
      `${f.properties.selected ? "Ingår i billigaste urvalet för målet" : "Ingår inte i billigaste urvalet"}</div>`),
  });
  window.bbplan.layers = { addresses: addressLayer, network: networkLayer, gaps: gapsLayer, areas: areaLayers };

  const overlays = {};
  for (const level of config.levels) overlays[SV.levels[level]] = areaLayers[level];
  overlays["Adresser (planerare)"] = addressLayer;
  overlays["Nät (planerare)"] = networkLayer;
  if (config.hasGaps) overlays["Gap och kostnad (planerare)"] = gapsLayer;
  L.control.layers(null, overlays, { collapsed: false, position: "topright" }).addTo(map);
  areaLayers[config.defaultLevel].addTo(map);

  function addressPopup(a) {
    const short = (text) => (text.length > 70 ? text.slice(0, 67) + "…" : text);
    const rows = a.targets.map((t) => {
      const label = `<td title="${esc(t.label)}">${esc(short(t.label))}</td>`;
      if (t.units === 0) return `<tr>${label}<td colspan="2" class="bbplan-na">gäller inte adressen</td></tr>`;
      return `<tr>${label}<td class="${t.passed ? "bbplan-pass" : "bbplan-fail"}">` +
        `${t.passed ? "Uppfyllt" : "Ej uppfyllt"}</td><td>${t.passed ? "" : esc(SV.reason[t.reason] || t.reason)}` +
        `${t.pass_year && !t.passed ? " (" + t.pass_year + ")" : ""}</td></tr>`;
    }).join("");
    return `<div class="bbplan-popup"><b>${esc(a.address || a.address_id)}</b> (${esc(a.address_id)})<br>` +
      `${esc(SV.access[a.access])}, ${esc(SV.technology[a.technology])} ${a.max_down_mbps ? a.max_down_mbps.toFixed(0) + " Mbit/s" : ""}<br>` +
      `Avstånd: ${a.distance_m === null ? "–" : a.distance_m.toFixed(0) + " m"} · Gigabit: ${a.gigabit_ready ? "ja" : "nej"} · ` +
      `Öppet nät: ${a.open_network ? "ja" : "nej"}<br>Hushåll ${a.households}, arbetsställen ${a.workplaces}` +
      `<table>${rows}</table></div>`;
  }
  async function showAddress(id, layer) {
    try {
      const a = await getJson(`/addresses/${encodeURIComponent(id)}?run=${config.runId}`);
      // A standalone popup, not bound to the marker: opening it may pan the map, and the pan
      // reloads the address layer, which would remove a bound popup with its marker.
      L.popup({ maxWidth: 420 }).setLatLng(layer.getLatLng()).setContent(addressPopup(a)).openOn(map);
    } catch (err) { status.textContent = "Kunde inte hämta adressen."; }
  }
  map.on("click", async (e) => {
    if (!state.key) return;
    try {
      const a = await getJson(`/lookup?lon=${e.latlng.lng}&lat=${e.latlng.lat}&run=${config.runId}`);
      L.popup({ maxWidth: 420 }).setLatLng([a.lat, a.lon]).setContent(addressPopup(a)).openOn(map);
    } catch (err) { /* no address near the click */ }
  });

  async function loadArea(level) {
    const layer = areaLayers[level];
    if (!map.hasLayer(layer)) return;
    const url = `/layers/${level}?run=${config.runId}&limit=${config.maxLimit}` +
      (level.startsWith("grid") || level === "custom" ? `&bbox=${bboxParam()}` : "");
    if (state.loaded[level] === url) return;
    const fc = await getJson(url);
    layer.clearLayers(); layer.addData(fc); state.loaded[level] = url;
    window.bbplan.features[level] = fc.features.length;
  }
  async function loadPlanner() {
    if (!state.key) { status.textContent = "Ange planerarnyckel för adresser och nät."; return; }
    const tasks = [];
    if (map.hasLayer(addressLayer)) {
      tasks.push(getJson(`/layers/addresses?run=${config.runId}&limit=${config.maxLimit}&bbox=${bboxParam()}`).then((fc) => {
        addressLayer.clearLayers(); addressLayer.addData(fc); window.bbplan.features.addresses = fc.features.length;
        status.textContent = `${fc.numberReturned} av ${fc.numberMatched} adresser visas.`;
      }));
    }
    if (map.hasLayer(networkLayer)) {
      tasks.push(getJson(`/layers/network?run=${config.runId}&limit=${config.maxLimit}&bbox=${bboxParam()}`).then((fc) => {
        networkLayer.clearLayers(); networkLayer.addData(fc); window.bbplan.features.network = fc.features.length;
      }));
    }
    if (config.hasGaps && map.hasLayer(gapsLayer)) {
      tasks.push(getJson(`/layers/gaps?run=${config.runId}&limit=${config.maxLimit}&bbox=${bboxParam()}`).then((fc) => {
        state.gaps = fc; gapsLayer.clearLayers(); gapsLayer.addData(fc); window.bbplan.features.gaps = fc.features.length;
      }));
    }
    await Promise.all(tasks);
  }
  // One canvas draws every overlay, last added on top, and a click goes to the topmost shape
  // under the pointer. Layers reload in whatever order their responses arrive, so the stack is
  // put back after each load: areas at the bottom, then gaps, network, and addresses on top
  // (a marker under a fibre line must still answer for its address).
  function restack() {
    for (const layer of [gapsLayer, networkLayer, addressLayer]) {
      if (map.hasLayer(layer)) layer.bringToFront();
    }
  }
  async function refresh() {
    try {
      await Promise.all(config.levels.map(loadArea));
      await loadPlanner();
      restack();
      window.bbplan.ready = true;
    } catch (err) { status.textContent = "Fel vid hämtning: " + err.message; window.bbplan.error = String(err); }
  }

  // Coalesce bursts (a key entry adds two overlays, each firing overlayadd) into one reload.
  let pending = null;
  function scheduleRefresh() {
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => { pending = null; refresh(); }, 60);
  }

  const panel = L.control({ position: "topleft" });
  panel.onAdd = function () {
    const div = L.DomUtil.create("div", "bbplan-panel");
    div.innerHTML = `<h3>bbplan – bredbandstäckning</h3><div>Körning ${esc(config.runId)}, utvärderad ${esc(config.evaluationDate)}</div>` +
      `<label for="bbplan-target">Mål</label><select id="bbplan-target"></select>` +
      `<label for="bbplan-key">Planerarnyckel</label><input id="bbplan-key" type="password" autocomplete="off" placeholder="X-API-Key">` +
      `<div class="bbplan-legend"><label>Adresser</label>` +
      Object.keys(ACCESS_COLOURS).map((k) => `<div><i style="background:${ACCESS_COLOURS[k]}"></i>${SV.access[k]}</div>`).join("") +
      `<label>Nät</label>` + Object.keys(TECH_COLOURS).map((k) =>
        `<div><i class="line" style="background:${TECH_COLOURS[k]}"></i>${SV.technology[k]}</div>`).join("") +
      `<div>streckad = planerad / under byggnad</div><label>Områden (andel mot målet)</label>` +
      `<div><i style="background:#1a9850"></i>målet uppfyllt</div><div><i style="background:#fee08b"></i>högst 5 procentenheter kvar</div>` +
      `<div><i style="background:#fc8d59"></i>5–20 procentenheter kvar</div><div><i style="background:#d73027"></i>mer än 20 kvar</div>` +
      `<div><i style="background:#bbbbbb"></i>inga enheter, eller döljs (färre än ${config.minUnits})</div></div>`;
    div.appendChild(status);
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  panel.addTo(map);

  const select = document.getElementById("bbplan-target");
  const keyInput = document.getElementById("bbplan-key");
  keyInput.value = state.key;
  keyInput.addEventListener("change", () => {
    state.key = keyInput.value.trim();
    if (state.key) localStorage.setItem(KEY_STORE, state.key); else localStorage.removeItem(KEY_STORE);
    if (state.key) { addressLayer.addTo(map); networkLayer.addTo(map); }
    scheduleRefresh();
  });
  select.addEventListener("change", () => {
    state.target = state.targets.find((t) => t.id === select.value) || null;
    for (const level of config.levels) areaLayers[level].setStyle(areaLayers[level].options.style);
    if (state.gaps) { gapsLayer.clearLayers(); gapsLayer.addData(state.gaps); restack(); }
  });
  map.on("moveend overlayadd", scheduleRefresh);

  getJson(`/compliance?run=${config.runId}`).then((c) => {
    state.targets = c.targets;
    select.innerHTML = c.targets.map((t) => `<option value="${esc(t.id)}">${esc(t.label)}</option>`).join("");
    state.target = c.targets[0] || null;
    if (state.key) { addressLayer.addTo(map); networkLayer.addTo(map); }
    scheduleRefresh();
  }).catch((err) => { status.textContent = "Fel: " + err.message; window.bbplan.error = String(err); });
}
window.bbplanInit = bbplanInit;
