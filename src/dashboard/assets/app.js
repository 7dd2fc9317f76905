// The arbiter's operations dashboard. Everything it shows comes from the service's HTTP API,
// with the bearer token the person signs in with; it acts through the same API, so the rules
// (who may approve what) are the service's, not the page's. Text from agents is always put
// into the page as text, never as markup.
"use strict";

const PAGE = 50;
const POLL_MS = 2000;
const SLOW_EVERY = 3; // graph, agents and intent are refreshed every third poll

const state = {
  token: sessionStorage.getItem("arbiter-token") || "",
  me: null,
  filter: { domain: "", agent: "", service: "", verdict: "" },
  before: null, // null: the newest page, kept live
  cursors: [], // the `before` of each page left behind by "Older", for "Newer"
  entries: [],
  latest: 0,
  matching: 0,
  older: null,
  selected: null, // { agent, id }
  highlight: null, // { target, blast: [...] }
  graph: null,
  cards: new Map(), // escalation key -> card element
  polls: 0,
  timer: null,
  session: 0, // counts sign-ins and sign-outs
};

const $ = (id) => document.getElementById(id);

/** Builds an element; attributes whose value is null, undefined or false are left out. */
function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

function s(tag, attrs, ...children) {
  return fill(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);
}

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k === "className" ? "class" : k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options = {}) {
  const headers = { Authorization: "Bearer " + state.token };
  if (options.body) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body ? JSON.stringify(options.body) : undefined,
  });
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { code: "unreadable", message: text };
  }
  if (!res.ok) {
    const err = new Error((body && body.message) || res.statusText);
    err.status = res.status;
    err.code = body && body.code;
    throw err;
  }
  return body;
}

// ---- formatting ----

// Whole percents from 10% up, one decimal below (where 0.4% and 4% differ in kind).
const pct = (x) => (x === null || x === undefined ? "—" : (100 * x).toFixed(x >= 0.1 || x === 0 ? 0 : 1) + "%");
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const num = (x) => (x === null || x === undefined ? "—" : Number(x).toLocaleString("en-US", { maximumFractionDigits: 1 }));

function clock(ts) {
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toISOString().slice(11, 19);
}

function duration(seconds) {
  if (seconds <= 0) return "expired";
  const m = Math.floor(seconds / 60);
  const sec = Math.floor(seconds % 60);
  if (m >= 60) return `${Math.floor(m / 60)} h ${m % 60} min`;
  return m > 0 ? `${m} min ${sec} s` : `${sec} s`;
}

function describeAction(a) {
  if (!a || typeof a !== "object") return String(a);
  const rest = Object.entries(a)
    .filter(([k]) => k !== "kind" && k !== "service")
    .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`);
  return `${a.kind} ${a.service}` + (rest.length ? ` (${rest.join(", ")})` : "");
}

function verdictBadge(v) {
  return h("span", { className: `verdict ${v}` }, v);
}

function reasonText(r) {
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

// ---- signing in ----

async function signIn(token) {
  state.session += 1;
  state.token = token;
  const me = await api("/api/whoami");
  state.me = me;
  sessionStorage.setItem("arbiter-token", token);
  $("who").textContent = me.name;
  $("signin").hidden = true;
  $("signed-out").hidden = true;
  $("signin-error").hidden = true;
  $("session").hidden = false;
  $("app").hidden = false;
  await poll();
}

function signOut() {
  state.session += 1;
  sessionStorage.removeItem("arbiter-token");
  state.token = "";
  state.me = null;
  clearTimeout(state.timer);
  // What was built for this person goes: the next one may not answer the same escalations.
  state.cards.clear();
  $("approvals-list").replaceChildren();
  $("control-status").textContent = "";
  $("app").hidden = true;
  $("session").hidden = true;
  $("signin").hidden = false;
  $("signed-out").hidden = false;
  $("token").value = "";
  $("token").focus();
}

// ---- the poll: every POLL_MS, one request after another ----

async function poll() {
  clearTimeout(state.timer);
  // A poll still running when a person signs out (or in again) must not start a second loop.
  const session = state.session;
  try {
    const slow = state.polls % SLOW_EVERY === 0;
    state.polls += 1;
    await Promise.all([loadSummary(), loadFeed(), loadApprovals()]);
    if (slow) await Promise.all([loadGraph(), loadAgents(), loadIntent()]);
    $("feed-status").classList.remove("error");
  } catch (e) {
    if (e.status === 401) {
      signOut();
      showSignInError("The token is no longer accepted: " + e.message);
      return;
    }
    $("feed-status").textContent = "Cannot reach the arbiter: " + e.message + " (retrying)";
  }
  if (state.token && session === state.session) state.timer = setTimeout(poll, POLL_MS);
}

function showSignInError(message) {
  $("signin-error").textContent = message;
  $("signin-error").hidden = false;
}

// ---- headline figures ----

function figure(label, value, note, alert) {
  return h("div", { className: "figure" + (alert ? " alert" : "") },
    h("div", { className: "label" }, label),
    h("div", { className: "value" }, value),
    note ? h("div", { className: "note" }, note) : null);
}

async function loadSummary() {
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

// ---- decision feed ----

function feedQuery() {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state.filter)) if (v) q.set(k, v);
  q.set("limit", PAGE);
  if (state.before !== null) q.set("before", state.before);
  return q.toString();
}

async function loadFeed() {
  const page = await api("/api/decisions?" + feedQuery());
  const changed = page.latest !== state.latest || page.matching !== state.matching ||
    page.entries.length !== state.entries.length;
  state.latest = page.latest;
  state.matching = page.matching;
  state.older = page.older;
  state.entries = page.entries;
  if (changed) renderFeed();
  renderPager();
}

function entryKey(e) {
  return `${e.agent}/${e.proposal_id}#${e.seq}`;
}

function renderFeed() {
  const focused = document.activeElement && document.activeElement.dataset.key;
  const list = $("feed-list");
  list.replaceChildren(...state.entries.map((e) => {
    const selected = state.selected && state.selected.agent === e.agent && state.selected.id === e.proposal_id;
    return h("li", {},
      h("button", {
        type: "button",
        className: "entry",
        "data-key": entryKey(e),
        "data-proposal": e.proposal_id,
        "aria-pressed": selected ? "true" : "false",
        "aria-label": `${e.verdict}: ${e.agent} ${e.kind} ${e.service}, proposal ${e.proposal_id}, at ${clock(e.decided_at)}`,
        title: e.explanation,
        onclick: () => select(e.agent, e.proposal_id),
      },
      h("span", { className: "time" }, clock(e.decided_at)),
      h("span", {}, verdictBadge(e.verdict)),
      h("span", { className: "what" }, `${e.agent} · ${e.kind || "?"} ${e.service || ""} · ${e.proposal_id}`),
      h("span", { className: "why" }, e.explanation)));
  }));
  if (focused) {
    const again = list.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

function renderPager() {
  const first = state.cursors.length * PAGE;
  const shown = state.entries.length;
  $("page-info").textContent = shown
    ? `${num(first + 1)}–${num(first + shown)} of ${num(state.matching)}` + (state.before === null ? " · live" : "")
    : state.matching ? "" : "no decision matches";
  $("newer").disabled = state.before === null;
  $("older").disabled = state.older === null;
  $("feed-status").textContent = state.before === null
    ? "New decisions appear at the top as they are given."
    : "Viewing older decisions; go back to the newest page to follow live.";
}

async function changePage(older) {
  if (older && state.older !== null) {
    state.cursors.push(state.before);
    state.before = state.older;
  } else if (!older && state.before !== null) {
    state.before = state.cursors.pop() ?? null;
  }
  state.latest = -1; // force a redraw
  await loadFeed();
}

async function applyFilters() {
  const form = $("filters");
  for (const k of Object.keys(state.filter)) state.filter[k] = form.elements[k].value.trim();
  state.before = null;
  state.cursors = [];
  state.latest = -1;
  await loadFeed();
}

/** Clicking a service on the graph shows its decisions in the feed. */
async function filterByService(name) {
  $("filters").elements.service.value = name;
  await applyFilters();
  $("feed").scrollIntoView({ block: "nearest" });
}

// ---- one decision ----

async function select(agent, id) {
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

// ---- approvals ----

async function loadApprovals() {
  const waiting = await api("/api/escalations");
  const list = $("approvals-list");
  const keys = new Set(waiting.map((p) => `${p.agent}/${p.proposal_id}`));
  for (const [k, card] of state.cards) {
    if (!keys.has(k) && !card.dataset.answered) {
      card.remove();
      state.cards.delete(k);
    }
  }
  for (const p of waiting) {
    const k = `${p.agent}/${p.proposal_id}`;
    if (!state.cards.has(k)) {
      const card = approvalCard(p);
      state.cards.set(k, card);
      list.append(card);
    }
  }
  if (state.cards.size === 0) {
    if (!list.querySelector(".empty")) list.replaceChildren(h("p", { className: "muted empty" }, "Nothing waits for a person."));
  } else {
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
  }
  tick();
}

function approvalCard(p) {
  const k = `${p.agent}/${p.proposal_id}`;
  const id = "esc-" + Math.random().toString(36).slice(2);
  const mine = state.me && state.me.operates.includes(p.agent);
  const blast = p.blast_radius;
  const status = h("p", { className: "status", role: "status" });
  const comment = h("textarea", { id: id + "-comment", rows: "2" });
  const answer = async (approve) => {
    for (const b of card.querySelectorAll("button")) b.disabled = true;
    status.className = "status";
    status.textContent = approve ? "Approving…" : "Denying…";
    try {
      const d = await api(`/api/escalations/${encodeURIComponent(p.agent)}/${encodeURIComponent(p.proposal_id)}`,
        { method: "POST", body: { approve, comment: comment.value } });
      card.dataset.answered = "true";
      status.className = "status ok";
      status.textContent = `${approve ? "Approved" : "Denied"}: ${p.agent} has been sent the final decision (${d.verdict}).`;
      setTimeout(() => { card.remove(); state.cards.delete(k); }, 8000);
      await Promise.all([loadFeed(), loadSummary()]);
    } catch (e) {
      status.className = "status bad";
      status.textContent = `Not answered: ${e.message}`;
      for (const b of card.querySelectorAll("button")) b.disabled = mine;
    }
  };
  const card = h("article", { className: "card", "aria-labelledby": id, "data-proposal": p.proposal_id },
    h("h3", { id }, `${p.agent} · ${p.proposal_id}`),
    h("dl", {},
      h("dt", {}, "Proposes"), h("dd", {}, `${describeAction(p.action)} (${p.domain}, confidence ${num(p.confidence)})`),
      p.rationale ? [h("dt", {}, "Because"), h("dd", {}, p.rationale)] : null,
      h("dt", {}, "Arbiter recommends"), h("dd", {}, h("strong", {}, p.recommendation || "no recommendation")),
      h("dt", {}, "Blast radius"),
      h("dd", {}, blast ? `${plural(blast.services.length, "service", "services")}, ${pct(blast.entry_traffic_share)} of entry traffic: ${blast.services.join(", ")}` : "none"),
      h("dt", {}, "Time left"),
      h("dd", {}, h("span", { className: "time-left", "data-deadline": String(Date.now() + p.seconds_left * 1000) }, duration(p.seconds_left)),
        ` (expires ${p.expires_at})`),
      h("dt", {}, "Why a person"), h("dd", {}, p.explanation)),
    h("label", { for: comment.id }, "Comment for the audit trail"),
    comment,
    h("div", { className: "actions" },
      h("button", { type: "button", className: "approve", "aria-label": `Approve ${k}`, disabled: mine, onclick: () => answer(true) }, "Approve"),
      h("button", { type: "button", className: "danger deny", "aria-label": `Deny ${k}`, disabled: mine, onclick: () => answer(false) }, "Deny"),
      h("button", { type: "button", className: "secondary", "aria-label": `Show ${k} on the graph`, onclick: () => select(p.agent, p.proposal_id) }, "Show")),
    mine ? h("p", { className: "muted" }, `You operate ${p.agent}: someone else must answer.`) : null,
    status);
  return card;
}

/** Counts the escalations' time left down, every second. */
function tick() {
  for (const el of document.querySelectorAll("[data-deadline]")) {
    const left = (Number(el.dataset.deadline) - Date.now()) / 1000;
    el.textContent = duration(left);
    el.classList.toggle("urgent", left < 120);
  }
}

// ---- service graph ----

async function loadGraph() {
  state.graph = await api("/api/graph");
  $("service-names").replaceChildren(...state.graph.services.map((x) => h("option", { value: x.name })));
  renderGraph();
}

const NODE_W = 168;
const NODE_H = 50;
const COL = 212;
const ROW = 64;

function renderGraph() {
  const g = state.graph;
  if (!g) return;
  const svg = $("graph-svg");
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
  $("graph-caption").textContent = (target
    ? `${target} is the target of ${state.selected.agent}/${state.selected.id}; ${plural(blast.size, "service is", "services are")} in its blast radius.`
    : "Select a decision to see its target and blast radius.") + ` Graph ${g.version.slice(0, 19)}…, ${g.services.length} services.`;
}

// ---- agents and kill switches ----

async function control(action, target) {
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

async function loadAgents() {
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
  const head = h("tr", {}, ["Agent", "Domains", "Proposals", "Approved", "Rejected", "Escalated", "Refused", "Success", "Rolled back", "State", "Kill switch"]
    .map((t) => h("th", { scope: "col" }, t)));
  const rows = Object.entries(agents).map(([name, a]) => {
    const own = controls.suspended_agents.includes(name);
    return h("tr", {},
      h("th", { scope: "row" }, name),
      h("td", {}, (a.domains || []).join(", ")),
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

// ---- intent ----

async function loadIntent() {
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

// ---- wiring ----

document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await signIn($("token").value.trim());
    } catch (e) {
      state.token = "";
      showSignInError(e.status === 401 ? "Unknown token." : "Cannot sign in: " + e.message);
    }
  });
  $("signout").addEventListener("click", signOut);
  $("filters").addEventListener("change", applyFilters);
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); applyFilters(); });
  $("older").addEventListener("click", () => changePage(true));
  $("newer").addEventListener("click", () => changePage(false));
  setInterval(tick, 1000);
  if (state.token) signIn(state.token).catch(() => signOut());
  else $("token").focus();
});
