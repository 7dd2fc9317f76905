// The decision feed: filters, pages of 50, live while on the newest page.
import { api } from "./api.js";
import { select } from "./decision.js";
import { $, h } from "./dom.js";
import { clock, num, verdictBadge } from "./format.js";
import { PAGE, state } from "./state.js";

export function feedQuery() {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state.filter)) if (v) q.set(k, v);
  q.set("limit", PAGE);
  if (state.before !== null) q.set("before", state.before);
  return q.toString();
}

export async function loadFeed() {
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

export function entryKey(e) {
  return `${e.agent}/${e.proposal_id}#${e.seq}`;
}

export function renderFeed() {
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

export function renderPager() {
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

export async function changePage(older) {
  if (older && state.older !== null) {
    state.cursors.push(state.before);
    state.before = state.older;
  } else if (!older && state.before !== null) {
    state.before = state.cursors.pop() ?? null;
  }
  state.latest = -1; // force a redraw
  await loadFeed();
}

export async function applyFilters() {
  const form = $("filters");
  for (const k of Object.keys(state.filter)) state.filter[k] = form.elements[k].value.trim();
  state.before = null;
  state.cursors = [];
  state.latest = -1;
  await loadFeed();
}

/** Clicking a service on the graph shows its decisions in the feed. */
export async function filterByService(name) {
  $("filters").elements.service.value = name;
  await applyFilters();
  $("feed").scrollIntoView({ block: "nearest" });
}
