// What the page knows between polls: who is signed in, the feed position and filters,
// the selected decision, the approval cards on screen.

export const PAGE = 50;
export const POLL_MS = 2000;
export const SLOW_EVERY = 3; // graph, agents and intent are refreshed every third poll

export const state = {
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
