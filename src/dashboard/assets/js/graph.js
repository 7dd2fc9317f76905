// The service graph: load against capacity, the selected decision's target and blast radius.
import { api } from "./api.js";
import { $, h, s } from "./dom.js";
import { filterByService } from "./feed.js";
import { num, pct, plural } from "./format.js";
import { state } from "./state.js";

export async function loadGraph() {
  state.graph = await api("/api/graph");
  $("service-names").replaceChildren(...state.graph.services.map((x) => h("option", { value: x.name })));
  renderGraph();
}

export const NODE_W = 168;
export const NODE_H = 50;
export const COL = 212;
export const ROW = 64;

export function renderGraph() {
  const g = state.graph;
  if (!g) return;
  const svg = $("graph-svg");
  // Redrawn on every refresh: a person on a node with the keyboard stays on it.
  const focused = svg.contains(document.activeElement) ? document.activeElement.dataset.service : null;
  const columns = [];
  g.services.forEach((x, i) => (columns[x.depth] ||= []).push(i));
  const pos = [];
  columns.forEach((col, depth) => {
    col.sort((a, b) => g.services[a].name.localeCompare(g.services[b].name));
    col.forEach((i, row) => (pos[i] = { x: 10 + depth * COL, y: 10 + row * ROW }));
  });
  const width = 20 + (columns.length - 1) * COL + NODE_W;
  const height = 20 + Math.max(...columns.map((c) => c.length)) * ROW - (ROW - NODE_H);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  // Fits the panel, shrinking to at most 60% of its natural size; a larger graph scrolls.
  svg.style.minWidth = `${Math.round(width * 0.6)}px`;
  svg.style.aspectRatio = `${width} / ${height}`;
  const hl = state.highlight;
  const blast = new Set(hl ? hl.blast : []);
  const target = hl ? hl.target : null;
  const edges = g.edges.map((e) => {
    const a = pos[e.from];
    const b = pos[e.to];
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    const lit = (blast.has(g.services[e.from].name) || g.services[e.from].name === target) &&
      (blast.has(g.services[e.to].name) || g.services[e.to].name === target);
    return s("path", {
      className: "edge" + (lit ? " lit" : ""),
      d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
      "marker-end": "url(#arrow)",
    });
  });
  const nodes = g.services.map((x, i) => {
    const { x: px, y: py } = pos[i];
    const util = x.capacity_rps > 0 ? x.load_rps / x.capacity_rps : 0;
    const overSlo = x.slo_p99_ms !== null && x.p99_ms > x.slo_p99_ms;
    const classes = ["node"];
    if (util > 0.85 || overSlo || !x.healthy) classes.push("hot");
    if (blast.has(x.name)) classes.push("blast");
    if (x.name === target) classes.push("target");
    const label = `${x.name} (${x.tier}): ${num(x.load_rps)} of ${num(x.capacity_rps)} requests/s (${pct(util)}), ${x.replicas} replicas, p99 ${num(x.p99_ms)} ms` +
      (x.slo_p99_ms !== null ? ` (SLO ${num(x.slo_p99_ms)} ms)` : "") +
      (x.name === target ? "; target of the selected decision" : blast.has(x.name) ? "; in its blast radius" : "");
    const show = () => filterByService(x.name);
    return s("g", {
      className: classes.join(" "),
      "data-service": x.name,
      transform: `translate(${px},${py})`,
      tabindex: "0",
      role: "button",
      "aria-label": `${label}. Show its decisions`,
      onclick: show,
      onkeydown: (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          show();
        }
      },
    },
      s("title", {}, label),
      s("rect", { className: "box", width: NODE_W, height: NODE_H, rx: 5 }),
      s("text", { x: 8, y: 17 }, (x.entry ? "▶ " : "") + x.name),
      s("text", { className: "sub", x: 8, y: 31 }, `${num(x.load_rps)}/${num(x.capacity_rps)} rps · ${x.replicas}×`),
      s("rect", { className: "bar-bg", x: 8, y: 37, width: NODE_W - 16, height: 6, rx: 2 }),
      s("rect", { className: "bar", x: 8, y: 37, width: Math.max(1, Math.min(1, util) * (NODE_W - 16)), height: 6, rx: 2 }));
  });
  svg.replaceChildren(
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa5b3" }))),
    ...edges, ...nodes);
  if (focused) {
    const again = svg.querySelector(`.node[data-service="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  $("graph-caption").textContent = (target
    ? `${target} is the target of ${state.selected.agent}/${state.selected.id}; ${plural(blast.size, "service is", "services are")} in its blast radius.`
    : "Select a decision to see its target and blast radius.") + ` Graph ${g.version.slice(0, 19)}…, ${g.services.length} services.`;
}
