// Agents' track records, kill switches, domain switches and the global freeze.
//
// The table and the switches are updated in place, never rebuilt: a person tabbing to a kill
// switch, or about to click one, must not have it replaced under them by the next refresh.
import { api } from "./api.js";
import { $, h } from "./dom.js";
import { loadSummary } from "./figures.js";
import { num, pct } from "./format.js";

const DOMAINS = ["cost", "security", "resilience", "application"];
const COLUMNS = ["Agent", "Domains", "Limit /min", "Proposals", "Approved", "Rejected", "Escalated", "Refused", "Success", "Rolled back", "State", "Kill switch"];
/** Cells between the agent's name and its kill switch; the first and the last are text. */
const CELLS = COLUMNS.length - 2;

/** One row per agent, kept across refreshes. */
const rows = new Map();
let switches = null;

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
  showSwitches(controls);
  showAgents(agents, controls);
}

/** A button whose action is read when it is pressed, so that updating it in place is enough. */
function switchButton(target) {
  const b = h("button", { type: "button", onclick: () => control(b.dataset.action, target) });
  return b;
}

function setButton(b, { action, label, text, className, pressed }) {
  b.dataset.action = action;
  b.className = className;
  if (label) b.setAttribute("aria-label", label);
  if (pressed !== undefined) b.setAttribute("aria-pressed", pressed ? "true" : "false");
  if (b.textContent !== text) b.textContent = text;
}

function showSwitches(controls) {
  if (!switches) {
    switches = { freeze: switchButton(""), domains: DOMAINS.map((d) => switchButton(d)) };
    $("switches").replaceChildren(switches.freeze, ...switches.domains);
  }
  const frozen = controls.frozen;
  setButton(switches.freeze, {
    action: frozen ? "unfreeze" : "freeze",
    text: frozen ? "Lift the global freeze" : "Freeze all changes",
    className: frozen ? "secondary" : "danger",
  });
  DOMAINS.forEach((d, i) => {
    const off = controls.suspended_domains.includes(d);
    setButton(switches.domains[i], {
      action: off ? "resume_domain" : "suspend_domain",
      text: `${off ? "Resume" : "Suspend"} domain ${d}`,
      className: "secondary",
      pressed: off,
    });
  });
}

function agentRow(name) {
  let row = rows.get(name);
  if (!row) {
    const cells = Array.from({ length: CELLS }, (_, i) => h("td", { className: i === 0 || i === CELLS - 1 ? "" : "num" }));
    const button = switchButton(name);
    row = { tr: h("tr", {}, h("th", { scope: "row" }, name), cells, h("td", {}, button)), cells, button };
    rows.set(name, row);
  }
  return row;
}

function showAgents(agents, controls) {
  const table = $("agents-table");
  if (!table.tHead) {
    table.replaceChildren(h("thead", {}, h("tr", {}, COLUMNS.map((t) => h("th", { scope: "col" }, t)))), h("tbody"));
  }
  const body = table.tBodies[0];
  const names = Object.keys(agents);
  names.forEach((name, i) => {
    const a = agents[name];
    const own = controls.suspended_agents.includes(name);
    const { tr, cells, button } = agentRow(name);
    const values = [
      (a.domains || []).join(", "),
      a.max_proposals_per_minute == null ? "none" : num(a.max_proposals_per_minute),
      ...[a.proposals, a.approved, a.rejected, a.escalated, a.refused].map(num),
      pct(a.success_rate),
      pct(a.rollback_rate),
      a.suspended ? "suspended" : "active",
    ];
    values.forEach((v, c) => {
      if (cells[c].textContent !== v) cells[c].textContent = v;
    });
    cells[CELLS - 1].className = a.suspended ? "suspended" : "";
    setButton(button, {
      action: own ? "resume_agent" : "suspend_agent",
      label: `${own ? "Resume" : "Suspend"} ${name}`,
      text: own ? "Resume" : "Suspend",
      className: own ? "secondary" : "danger",
    });
    // Moving a row that is already in place would take the focus from its button.
    if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] || null);
  });
  for (const [name, row] of rows) {
    if (!(name in agents)) {
      row.tr.remove();
      rows.delete(name);
    }
  }
}
