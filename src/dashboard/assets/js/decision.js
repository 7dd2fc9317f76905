// One decision: its explanation, reasons, blast radius and story from the audit trail.
import { api } from "./api.js";
import { $, h } from "./dom.js";
import { entryKey } from "./feed.js";
import { describeAction, pct, plural, reasonText, verdictBadge } from "./format.js";
import { renderGraph } from "./graph.js";
import { state } from "./state.js";

export async function select(agent, id) {
  state.selected = { agent, id };
  for (const b of document.querySelectorAll(".entry")) {
    const e = state.entries.find((x) => entryKey(x) === b.dataset.key);
    b.setAttribute("aria-pressed", e && e.agent === agent && e.proposal_id === id ? "true" : "false");
  }
  const body = $("detail-body");
  body.replaceChildren(h("p", { className: "muted" }, "Loading…"));
  let d;
  try {
    d = await api(`/api/decisions/${encodeURIComponent(agent)}/${encodeURIComponent(id)}`);
  } catch (e) {
    body.replaceChildren(h("p", { className: "status bad" }, e.message));
    return;
  }
  const full = d.decision || {};
  const blast = full.blast_radius;
  state.highlight = { target: d.service, blast: blast ? blast.services : [] };
  renderGraph();
  body.replaceChildren(
    h("h3", {}, `${agent} · ${id} `, full.verdict ? verdictBadge(full.verdict) : null),
    h("dl", { className: "facts" },
      h("dt", {}, "Proposed"), h("dd", {}, d.kind ? `${d.kind} ${d.service} (${d.domain})` : "—"),
      h("dt", {}, "Decided"), h("dd", {}, full.decided_at || "—"),
      full.action ? [h("dt", {}, "Action to run"), h("dd", {}, describeAction(full.action))] : null,
      full.merged_into ? [h("dt", {}, "Merged into"), h("dd", {}, full.merged_into)] : null,
      full.recommendation ? [h("dt", {}, "Recommendation"), h("dd", {}, full.recommendation)] : null,
      h("dt", {}, "Blast radius"),
      h("dd", {}, blast ? `${plural(blast.services.length, "service", "services")}, ${pct(blast.entry_traffic_share)} of entry traffic: ${blast.services.join(", ")}` : "none (the change cannot fail requests through the service)"),
      full.intent ? [h("dt", {}, "Intent"), h("dd", {}, `${full.intent.name} (${full.intent.version})`)] : null,
      full.audit ? [h("dt", {}, "Audit record"), h("dd", {}, `#${full.audit.seq} ${full.audit.hash}`)] : null),
    full.explanation ? h("p", {}, full.explanation) : "",
    ...(full.reasons && full.reasons.length ? [h("h3", {}, "Reasons"), h("ul", { className: "reasons" }, full.reasons.map((r) => h("li", {}, reasonText(r))))] : []),
    h("h3", {}, "Audit trail"),
    d.narrative ? h("pre", { className: "narrative", tabindex: "0", "aria-label": "Audit narrative" }, d.narrative)
      : h("p", { className: "muted" }, "The service keeps no audit trail (started without --audit)."),
  );
}
