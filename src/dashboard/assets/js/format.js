// Numbers, times and actions as people read them.
import { h } from "./dom.js";

// Whole percents from 10% up, one decimal below (where 0.4% and 4% differ in kind).
export const pct = (x) => (x === null || x === undefined ? "—" : (100 * x).toFixed(x >= 0.1 || x === 0 ? 0 : 1) + "%");
export const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
export const num = (x) => (x === null || x === undefined ? "—" : Number(x).toLocaleString("en-US", { maximumFractionDigits: 1 }));

export function clock(ts) {
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toISOString().slice(11, 19);
}

export function duration(seconds) {
  if (seconds <= 0) return "expired";
  const m = Math.floor(seconds / 60);
  const sec = Math.floor(seconds % 60);
  if (m >= 60) return `${Math.floor(m / 60)} h ${m % 60} min`;
  if (m > 0) return sec ? `${m} min ${sec} s` : `${m} min`;
  return `${sec} s`;
}

export function describeAction(a) {
  if (!a || typeof a !== "object") return String(a);
  const rest = Object.entries(a)
    .filter(([k]) => k !== "kind" && k !== "service")
    .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`);
  return `${a.kind} ${a.service}` + (rest.length ? ` (${rest.join(", ")})` : "");
}

export function verdictBadge(v) {
  return h("span", { className: `verdict ${v}` }, v);
}

export function reasonText(r) {
  const parts = [r.code];
  if (r.service) parts.push(r.service);
  if (r.field) parts.push(r.field);
  if (r.value !== undefined && r.limit !== undefined) parts.push(`${num(r.value)} against ${num(r.limit)}`);
  if (r.by) parts.push(`by ${r.by}`);
  let text = parts.join(" · ");
  if (r.detail) text += ` — ${r.detail}`;
  if (r.intent_clause) text += ` (intent: ${r.intent_clause})`;
  return text;
}
