// Escalations waiting for a person, and the person's answer.
import { api } from "./api.js";
import { select } from "./decision.js";
import { $, h } from "./dom.js";
import { loadFeed } from "./feed.js";
import { loadSummary } from "./figures.js";
import { describeAction, duration, num, pct, plural } from "./format.js";
import { state } from "./state.js";

export async function loadApprovals() {
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

export function approvalCard(p) {
  const k = `${p.agent}/${p.proposal_id}`;
  const id = "esc-" + Math.random().toString(36).slice(2);
  const mine = state.me && state.me.operates.includes(p.agent);
  const blast = p.blast_radius;
  const status = h("p", { className: "status", role: "status" });
  // 1024 characters at most: within the 4096 bytes the API takes (`MAX_COMMENT_BYTES`) in any script.
  const comment = h("textarea", { id: id + "-comment", rows: "2", maxlength: "1024" });
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
export function tick() {
  for (const el of document.querySelectorAll("[data-deadline]")) {
    const left = (Number(el.dataset.deadline) - Date.now()) / 1000;
    el.textContent = duration(left);
    el.classList.toggle("urgent", left < 120);
  }
}
