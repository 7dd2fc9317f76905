// Headline figures: policy adherence, escalation rate, time to rollback, audit completeness.
import { api } from "./api.js";
import { $, h } from "./dom.js";
import { num, pct, plural } from "./format.js";

export function figure(label, value, note, alert) {
  return h("div", { className: "figure" + (alert ? " alert" : "") },
    h("div", { className: "label" }, label),
    h("div", { className: "value" }, value),
    note ? h("div", { className: "note" }, note) : null);
}

export async function loadSummary() {
  const f = await api("/api/summary");
  const a = f.adherence;
  const total = f.decisions;
  const share = (n) => (total ? pct(n / total) : "—");
  const byDomain = Object.entries(f.adherence_by_domain)
    .map(([d, x]) => `${d} ${num(x.allowed)} allowed · ${num(x.blocked)} blocked · ${num(x.escalated)} escalated`)
    .join("  |  ");
  const c = f.controls;
  const suspended = c.suspended_agents.length + c.suspended_domains.length;
  $("figures").replaceChildren(
    figure("Policy adherence", `${share(a.allowed)} allowed`,
      `${share(a.blocked)} blocked, ${share(a.escalated)} escalated of ${num(total)} proposals`),
    figure("Escalation rate", pct(f.escalation_rate), `${num(f.escalations_answered)} answered by a person or timed out`),
    figure("Time to rollback", f.mean_time_to_rollback_s === null ? "—" : `${num(f.mean_time_to_rollback_s)} s`,
      f.rollbacks ? `mean from SLO breach to command, ${plural(f.rollbacks, "rollback", "rollbacks")}` : "no rollback yet"),
    figure("Incidents per 1 000 changes", f.incidents_per_1000 === null ? "—" : num(f.incidents_per_1000),
      f.incidents_per_1000 === null ? "no approved change yet" : `failed or rolled back, of ${plural(f.approved_changes, "approved change", "approved changes")}`),
    figure("Audit completeness", pct(f.audit_completeness),
      f.audit_completeness === null ? "no decision since start" : "of decisions since start are in the audit trail",
      f.audit_completeness !== null && f.audit_completeness < 1),
    figure("Waiting for a person", num(f.pending_approvals), `${plural(f.changes_in_flight, "approved change", "approved changes")} in flight`, f.pending_approvals > 0),
    figure("Controls", c.frozen ? "frozen" : suspended ? `${suspended} suspended` : "normal",
      c.frozen ? "global freeze: no change is approved" : "kill switches below", c.frozen || suspended > 0),
  );
  $("by-domain").textContent = byDomain ? `Policy adherence by domain: ${byDomain}` : "";
  $("intent-badge").textContent = f.intent
    ? `Intent in force: ${f.intent.name} (${f.intent.version.slice(0, 19)}…) from ${f.intent.file}`
    : "No intent in force";
  $("approvals-count").textContent = f.pending_approvals || "";
}
