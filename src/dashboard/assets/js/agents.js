// Agents' track records, kill switches, domain switches and the global freeze.
import { api } from "./api.js";
import { $, h } from "./dom.js";
import { loadSummary } from "./figures.js";
import { num, pct } from "./format.js";

export async function control(action, target) {
  const st = $("control-status");
  try {
    await api("/api/control", { method: "POST", body: { action, target } });
    st.textContent = `Done: ${action.replace("_", " ")} ${target}`.trim() + ". Recorded in the audit trail.";
    st.className = "status ok";
  } catch (e) {
    st.textContent = `Not done: ${e.message}`;
    st.className = "status bad";
  }
  await Promise.all([loadAgents(), loadSummary()]);
}

export async function loadAgents() {
  const [agents, controls] = await Promise.all([api("/api/agents"), api("/api/control")]);
  $("agent-names").replaceChildren(...Object.keys(agents).map((a) => h("option", { value: a })));
  const domains = ["cost", "security", "resilience", "application"];
  $("switches").replaceChildren(
    h("button", {
      type: "button",
      className: controls.frozen ? "secondary" : "danger",
      onclick: () => control(controls.frozen ? "unfreeze" : "freeze", ""),
    }, controls.frozen ? "Lift the global freeze" : "Freeze all changes"),
    ...domains.map((d) => {
      const off = controls.suspended_domains.includes(d);
      return h("button", {
        type: "button",
        className: "secondary",
        "aria-pressed": off ? "true" : "false",
        onclick: () => control(off ? "resume_domain" : "suspend_domain", d),
      }, `${off ? "Resume" : "Suspend"} domain ${d}`);
    }));
  const head = h("tr", {}, ["Agent", "Domains", "Limit /min", "Proposals", "Approved", "Rejected", "Escalated", "Refused", "Success", "Rolled back", "State", "Kill switch"]
    .map((t) => h("th", { scope: "col" }, t)));
  const rows = Object.entries(agents).map(([name, a]) => {
    const own = controls.suspended_agents.includes(name);
    return h("tr", {},
      h("th", { scope: "row" }, name),
      h("td", {}, (a.domains || []).join(", ")),
      h("td", { className: "num" }, a.max_proposals_per_minute == null ? "none" : num(a.max_proposals_per_minute)),
      ...[a.proposals, a.approved, a.rejected, a.escalated, a.refused].map((n) => h("td", { className: "num" }, num(n))),
      h("td", { className: "num" }, pct(a.success_rate)),
      h("td", { className: "num" }, pct(a.rollback_rate)),
      h("td", { className: a.suspended ? "suspended" : "" }, a.suspended ? "suspended" : "active"),
      h("td", {}, h("button", {
        type: "button",
        className: own ? "secondary" : "danger",
        "aria-label": `${own ? "Resume" : "Suspend"} ${name}`,
        onclick: () => control(own ? "resume_agent" : "suspend_agent", name),
      }, own ? "Resume" : "Suspend")));
  });
  $("agents-table").replaceChildren(h("thead", {}, head), h("tbody", {}, rows));
}
