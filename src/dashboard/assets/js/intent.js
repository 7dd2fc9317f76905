// The intent in force, readable.
import { api } from "./api.js";
import { $, h } from "./dom.js";
import { duration, num, pct } from "./format.js";

export async function loadIntent() {
  const { in_force: i, loaded } = await api("/api/intent");
  const body = $("intent-body");
  if (!i) {
    body.replaceChildren(h("p", { className: "muted" }, "No intent is in force: every proposal is escalated."));
    return;
  }
  const tiers = [...new Set(Object.values(i.autonomy).flatMap((t) => Object.keys(t)))].sort();
  body.replaceChildren(
    h("div", { className: "intent-head" },
      h("h3", {}, i.name),
      h("p", {}, i.description),
      h("dl", { className: "facts" },
        h("dt", {}, "File"), h("dd", {}, h("code", {}, i.file)),
        h("dt", {}, "Version"), h("dd", {}, h("code", {}, i.version)),
        h("dt", {}, "Owner"), h("dd", {}, i.owner),
        h("dt", {}, "In force"), h("dd", {}, i.window ? `${i.window[0]} to ${i.window[1]}` : "always (fallback)"))),
    h("div", { className: "intent-grid" },
      h("div", {}, h("h3", {}, "Priorities, most important first"),
        h("ol", {}, i.priorities.map((p, n) => h("li", {}, p, n >= i.declared_priorities ? " (not declared: default order)" : "")))),
      h("div", {}, h("h3", {}, "Latency SLOs (p99)"),
        i.slos.length ? h("ul", {}, i.slos.map((x) => h("li", {}, `${x.service}: ${num(x.p99_latency_ms)} ms`))) : h("p", { className: "muted" }, "none")),
      h("div", {}, h("h3", {}, "Budget and limits"),
        h("ul", {},
          h("li", {}, i.max_cost_per_hour === null ? "no spend limit" : `spend at most ${num(i.max_cost_per_hour)} per hour`),
          h("li", {}, `capacity headroom ×${num(i.headroom)} over ${num(i.horizon_h)} h`),
          h("li", {}, `blast radius at most ${pct(i.blast.max_entry_traffic_share)} of entry traffic`),
          h("li", {}, `at most ${i.blast.max_changes_per_service} changes in flight per service`),
          h("li", {}, `below ${pct(i.autonomous_min_confidence)} confidence a person decides`),
          h("li", {}, `escalations expire after ${duration(i.escalation.timeout_s)}`))),
      h("div", {}, h("h3", {}, "Autonomy zones"),
        h("table", {},
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "domain"), tiers.map((t) => h("th", { scope: "col" }, t === "*" ? "any tier" : t)))),
          h("tbody", {}, Object.entries(i.autonomy).map(([d, z]) =>
            h("tr", {}, h("th", { scope: "row" }, d), tiers.map((t) => h("td", {}, z[t] || z["*"] || i.autonomy_default)))))),
        h("p", { className: "muted" }, `Otherwise: ${i.autonomy_default}.`)),
      h("div", {}, h("h3", {}, "Change freezes"),
        i.freezes.length ? h("ul", {}, i.freezes.map((f) => h("li", {},
          `${f.name}: ${f.start} to ${f.end}; ${f.kinds ? f.kinds.join(", ") : "every kind"} on ${f.services ? f.services.join(", ") : "every service"}`)))
          : h("p", { className: "muted" }, "none")),
      h("div", {}, h("h3", {}, "Intents loaded"),
        h("ul", {}, loaded.map((x) => h("li", {}, `${x.name} (${x.file})`, x.in_force ? " — in force" : x.window ? ` — from ${x.window[0]}` : ""))))));
}
