// The status page: reads /status.json every few seconds (?refresh=N, default 2) and fills the tables.
// Every value is set as text, never as HTML: an upstream's error message cannot become markup.
"use strict";

const REFRESH = Math.max(0.5, Number(new URLSearchParams(location.search).get("refresh")) || 2);

function cell(row, value, cls) {
  const td = row.insertCell();
  if (value && typeof value === "object" && value.state !== undefined) {
    const span = document.createElement("span");
    span.className = "state " + String(value.state).replace(/ /g, "-");
    span.textContent = value.state;
    td.appendChild(span);
  } else {
    td.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
  }
  if (cls) td.className = cls;
  return td;
}

function fill(id, rows, columns, empty) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren();
  if (!rows.length) {
    const td = body.insertRow().insertCell();
    td.colSpan = columns;
    td.className = "empty";
    td.textContent = empty;
  }
  return body;
}

function ago(unix) {
  if (!unix) return "never";
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

function latency(l) {
  if (!l) return "no calls";
  const p = (v) => (v < 0 ? "> 10 s" : "≤ " + v + " ms");
  return `mean ${l.mean_ms} ms, p50 ${p(l.p50_ms)}, p95 ${p(l.p95_ms)} (${l.calls} calls)`;
}

function budget(b) {
  if (!b) return "no limit";
  return `${b.tokens}/${b.burst} tokens at ${b.per_second}/s, ${b.waiting} waiting, ${b.refused_last_hour} refused (1 h)`;
}

function render(s) {
  document.getElementById("meta").textContent =
    `updated ${s.generated_at} · config loaded ${s.config_loaded_at} · refreshes every ${REFRESH} s`;
  let body = fill("upstreams", s.upstreams, 8, "no upstreams");
  for (const u of s.upstreams) {
    const r = body.insertRow();
    r.dataset.upstream = u.name;
    cell(r, u.name); cell(r, u.dialect); cell(r, {state: u.breaker}).dataset.breaker = u.breaker;
    cell(r, u.consecutive_failures, "num"); cell(r, u.last_error); cell(r, latency(u.latency));
    cell(r, `${u.calls_last_hour} / ${u.failed_last_hour}`, "num"); cell(r, budget(u.budget));
  }
  body = fill("cache", [s.cache], 4, "");
  const c = body.insertRow();
  const lookups = Object.entries(s.cache.lookups_last_hour).map(([k, v]) => `${k} ${v}`).join(", ");
  cell(c, s.cache.backend); cell(c, {state: s.cache.state});
  cell(c, s.cache.hit_ratio_last_hour === null ? "no lookups" : (100 * s.cache.hit_ratio_last_hour).toFixed(1) + " %",
       "num");
  cell(c, lookups || "none");
  body = fill("refusals", s.refusals_last_hour, 3, "no refusals");
  for (const f of s.refusals_last_hour) {
    const r = body.insertRow();
    cell(r, f.reason); cell(r, f.admin, "num"); cell(r, f.players, "num");
  }
  body = fill("lines", s.streams.lines, 3, "no streams");
  for (const l of s.streams.lines) {
    const r = body.insertRow();
    cell(r, l.line); cell(r, l.kind); cell(r, l.streams, "num");
  }
  body = fill("channels", s.streams.channels, 4, "no shared channels");
  for (const ch of s.streams.channels) {
    const r = body.insertRow();
    cell(r, ch.stream); cell(r, ch.format); cell(r, ch.lingering ? "0 (lingering)" : ch.viewers, "num");
    cell(r, ch.shared_by);
  }
  body = fill("keys", s.keys, 6, "no keys");
  for (const k of s.keys) {
    const r = body.insertRow();
    cell(r, k.id); cell(r, k.policy); cell(r, k.reseller_id); cell(r, {state: k.state}); cell(r, k.expires_at);
    cell(r, ago(k.last_used));
  }
}

async function refresh() {
  try {
    const answer = await fetch("status.json", {cache: "no-store"});
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    render(await answer.json());
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "cannot reach the gateway: " + e.message;
  } finally {
    setTimeout(refresh, REFRESH * 1000);
  }
}

refresh();
