// The arbiter's operations dashboard. Everything it shows comes from the service's HTTP API,
// with the bearer token the person signs in with; it acts through the same API, so the rules
// (who may approve what) are the service's, not the page's. Text from agents is always put
// into the page as text, never as markup.
import { loadAgents } from "./agents.js";
import { api } from "./api.js";
import { loadApprovals, tick } from "./approvals.js";
import { applyFilters, changePage, loadFeed } from "./feed.js";
import { loadSummary } from "./figures.js";
import { loadGraph } from "./graph.js";
import { loadIntent } from "./intent.js";
import { POLL_MS, SLOW_EVERY, state } from "./state.js";
import { $ } from "./dom.js";

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
