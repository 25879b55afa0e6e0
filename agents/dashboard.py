"""``/dashboard`` on every worker: a live page of what the worker does, with no build step.

The page is one HTML file with a small script of its own (no library, nothing fetched from
elsewhere): every two seconds it asks ``/dashboard/data`` for a JSON snapshot and redraws. The
snapshot is read from the same Prometheus registry ``/metrics`` renders, so the page and a scrape
agree; rates (events/s) are the page's own, from two snapshots. It adds what a scrape lacks:
the worker's latest 50 triggers. Like ``/profiles``, the data names users, so it asks for the
bearer token when one is set; the page passes one given in its address (``/dashboard#token=T``).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry

from schemas.timestamps import format_rfc3339

RECENT_TRIGGERS = 50


class RecentTriggers:
    """The worker's latest triggers, newest last; kept raw, formatted only when the page asks."""

    def __init__(self) -> None:
        self.items: deque[tuple[int, str, str, str]] = deque(maxlen=RECENT_TRIGGERS)

    def add(self, ts_ms: int, rule: str, user_id: str, channel: str) -> None:
        self.items.append((ts_ms, rule, user_id, channel))


def snapshot(registry: CollectorRegistry, recent: RecentTriggers) -> dict[str, Any]:
    """What the page shows, from the registry's samples as they are now."""
    events: dict[str, float] = {}
    triggers: dict[str, float] = {}
    suppressions: dict[str, dict[str, float]] = {}
    conversions: dict[str, dict[str, float]] = {}
    dead_letters = 0.0
    lag: dict[str, float] = {}
    buckets: list[tuple[float, float]] = []
    for family in registry.collect():
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "nudge_events_total":
                events[labels["topic"]] = events.get(labels["topic"], 0.0) + value
            elif name == "nudge_triggers_total":
                triggers[labels["rule"]] = triggers.get(labels["rule"], 0.0) + value
            elif name == "nudge_suppressions_total":
                by_reason = suppressions.setdefault(labels["rule"], {})
                by_reason[labels["reason"]] = by_reason.get(labels["reason"], 0.0) + value
            elif name == "nudge_conversions_total":
                by_group = conversions.setdefault(labels["rule"], {})
                by_group[labels["group"]] = by_group.get(labels["group"], 0.0) + value
            elif name == "nudge_dead_letters_total":
                dead_letters += value
            elif name == "nudge_consumer_lag":
                lag[f"{labels['topic']}/{labels['partition']}"] = value
            elif name == "nudge_processing_latency_seconds_bucket":
                buckets.append((float(labels["le"]), value))
    return {
        "as_of": time.time(),
        "events": events,
        "triggers": triggers,
        "suppressions": suppressions,
        "conversions": conversions,
        "dead_letters": dead_letters,
        "latency_ms": {name: _quantile(buckets, q) for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        "lag": dict(sorted(lag.items())),
        "recent": [
            {"ts": format_rfc3339(ts_ms), "rule": rule, "user_id": user_id, "channel": channel} for ts_ms, rule, user_id, channel in reversed(recent.items)
        ],
    }


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The histogram's ``q`` quantile, in milliseconds, as the upper bound of the bucket it falls
    in (as Prometheus's histogram_quantile would, without interpolating); None before any sample."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    wanted = q * ordered[-1][1]
    finite = [bound for bound, _ in ordered if bound != float("inf")]
    for bound, count in ordered:
        if count >= wanted:
            return round((finite[-1] if bound == float("inf") else bound) * 1000, 1)
    return None


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Nudge worker</title>
<style>
body{font:14px sans-serif;margin:1.5em;color:#222}h1{font-size:20px}h2{font-size:15px;margin:1.2em 0 .4em}
.tiles{display:flex;gap:1em;flex-wrap:wrap}.tile{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:9em}
.tile b{display:block;font-size:22px}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #eee;padding:2px 6px;text-align:left}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1.5em}#error{color:#b00}
</style></head><body>
<h1>Nudge worker <span id="error"></span></h1>
<div class="tiles">
<div class="tile">events/s<b id="events-rate">-</b></div>
<div class="tile">events<b id="events-total">-</b></div>
<div class="tile">triggers<b id="triggers-total">-</b></div>
<div class="tile">suppressions<b id="suppressions-total">-</b></div>
<div class="tile">dead letters<b id="dead-letters">-</b></div>
<div class="tile">conversions (treated / holdout)<b id="conversions">-</b></div>
<div class="tile">latency p50 / p95 / p99 (ms)<b id="latency">-</b></div>
</div>
<h2>Events/s by topic</h2><svg id="rate-chart" width="760" height="140"></svg><div id="rate-legend"></div>
<div class="grid">
<div><h2>Triggers and suppressions by rule</h2><table id="rules"></table></div>
<div><h2>Consumer lag (messages behind) by partition</h2><table id="lag"></table></div>
</div>
<h2>Latest triggers</h2><table id="recent"></table>
<script>
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const colours = ["#d9480f", "#1c7ed6", "#2b8a3e", "#862e9c", "#e67700", "#495057", "#c2255c"];
const history = {};  // topic -> [events/s], the latest 60 polls
let previous = null;
const sum = values => Object.values(values).reduce((a, b) => a + b, 0);
const text = (id, value) => { document.getElementById(id).textContent = value; };
const cell = (tag, value) => { const element = document.createElement(tag); element.textContent = value; return element; };
function table(id, header, rows) {
  const element = document.getElementById(id);
  element.replaceChildren();
  const head = document.createElement("tr"); header.forEach(name => head.appendChild(cell("th", name))); element.appendChild(head);
  rows.forEach(row => { const line = document.createElement("tr"); row.forEach(value => line.appendChild(cell("td", value))); element.appendChild(line); });
}
function chart() {
  const svg = document.getElementById("rate-chart"), width = 760, height = 140;
  const topics = Object.keys(history).sort();
  const top = Math.max(1, ...topics.flatMap(topic => history[topic]));
  svg.innerHTML = `<line x1="0" y1="${height - 1}" x2="${width}" y2="${height - 1}" stroke="#999"/><text x="2" y="12" font-size="10">${Math.round(top)}/s</text>`;
  topics.forEach((topic, index) => {
    const series = history[topic], step = width / Math.max(series.length - 1, 1);
    const points = series.map((value, i) => `${(i * step).toFixed(1)},${(height - 2 - value * (height - 16) / top).toFixed(1)}`).join(" ");
    svg.innerHTML += `<polyline fill="none" stroke="${colours[index % colours.length]}" stroke-width="1.5" points="${points}"/>`;
  });
  document.getElementById("rate-legend").innerHTML = topics.map((topic, index) => `<span style="color:${colours[index % colours.length]}">&#9632; ${topic}</span>`).join(" &nbsp; ");
}
function show(data) {
  const total = sum(data.events);
  text("events-total", total);
  if (previous !== null && data.as_of > previous.as_of) {
    const seconds = data.as_of - previous.as_of;
    text("events-rate", ((total - sum(previous.events)) / seconds).toFixed(1));
    for (const topic of Object.keys(data.events)) {
      const series = history[topic] || (history[topic] = []);
      series.push((data.events[topic] - (previous.events[topic] || 0)) / seconds);
      if (series.length > 60) series.shift();
    }
    chart();
  }
  text("triggers-total", sum(data.triggers));
  text("suppressions-total", Object.values(data.suppressions).reduce((a, reasons) => a + sum(reasons), 0));
  text("dead-letters", data.dead_letters);
  const groups = Object.values(data.conversions);
  text("conversions", `${groups.reduce((a, g) => a + (g.treated || 0), 0)} / ${groups.reduce((a, g) => a + (g.holdout || 0), 0)}`);
  const latency = data.latency_ms;
  text("latency", [latency.p50, latency.p95, latency.p99].map(v => v === null ? "-" : v).join(" / "));
  const rules = [...new Set([...Object.keys(data.triggers), ...Object.keys(data.suppressions)])].sort();
  table("rules", ["rule", "triggers", "suppressed, by reason", "conversions treated / holdout"], rules.map(rule => [
    rule, data.triggers[rule] || 0,
    Object.entries(data.suppressions[rule] || {}).map(([reason, n]) => `${reason} ${n}`).join(", "),
    `${(data.conversions[rule] || {}).treated || 0} / ${(data.conversions[rule] || {}).holdout || 0}`]));
  const lagTopics = {}, lagPartitions = new Set();
  for (const [key, behind] of Object.entries(data.lag)) {
    const [topic, partition] = key.split("/");
    (lagTopics[topic] = lagTopics[topic] || {})[partition] = behind;
    lagPartitions.add(partition);
  }
  const partitions = [...lagPartitions].sort((a, b) => a - b);
  table("lag", ["topic", ...partitions.map(p => `partition ${p}`)], Object.keys(lagTopics).sort().map(topic => [topic, ...partitions.map(p => lagTopics[topic][p] ?? "-")]));
  table("recent", ["ts", "rule", "user", "channel"], data.recent.map(t => [t.ts, t.rule, t.user_id, t.channel]));
  previous = data;
  document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
}
async function poll() {
  try {
    const response = await fetch("/dashboard/data", token ? {headers: {Authorization: `Bearer ${token}`}} : {});
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    show(await response.json());
    text("error", "");
  } catch (error) {
    text("error", `(no data: ${error.message})`);
  }
}
poll();
setInterval(poll, 2000);
</script>
</body></html>
"""
