// Rendering. Everything the server says reaches the page through
// textContent and attributes set one by one: never as HTML.

import { State } from "./protocol.js";

/** Builds an element: el("li", {class: "x", text: "y", attrs: {...}}, ...children). */
export function el(tag, opts = {}, ...children) {
  const e = document.createElement(tag);
  if (opts.class) e.className = opts.class;
  if (opts.text !== undefined) e.textContent = String(opts.text);
  for (const [k, v] of Object.entries(opts.attrs ?? {})) {
    if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return "?";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const SEVERITIES = ["info", "low", "medium", "high", "critical"];

function severity(s) {
  return SEVERITIES.includes(s) ? s : "info";
}

function capital(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/** Plain words for the error codes of the API and of this page. */
const ERROR_TITLES = {
  file_too_large: "Too large",
  not_ready: "Server not ready",
  bad_start: "Rejected",
  bad_name: "Rejected",
  connection_lost: "Connection lost",
  cancelled: "Cancelled",
  shutting_down: "Server shut down",
  timeout: "No verdict in time",
  publish_failed: "Server storage failed",
  aborted: "Aborted",
  upload_timeout: "Upload stalled",
  bad_chunks: "Upload broken",
  internal: "Server error",
  read_failed: "Could not read the file",
  not_found: "Job lost",
  resume_failed: "Could not resume",
};

export function errorTitle(err) {
  return ERROR_TITLES[err?.code] ?? (err?.rejected ? "Rejected" : "Failed");
}

/** What happened, in plain words, for the server's error codes. */
const ERROR_PLAIN = {
  file_too_large: (u) => `The server does not take a file this large (${formatBytes(u.size)}).`,
  not_ready: () => "The server cannot analyse files right now: it is starting, stopping or has no engine. Try again in a moment.",
  bad_start: () => "The server refused to start this file.",
  bad_name: () => "The server refused the file's name.",
  cancelled: () => "The file was cancelled and not analysed.",
  shutting_down: () => "The server shut down before the verdict.",
  timeout: () => "The server gave no verdict in time; the job may still finish on the server.",
  publish_failed: () => "The server could not store the file.",
  aborted: () => "The job was stopped before its verdict.",
  upload_timeout: () => "The upload stalled and the server gave up on it.",
  bad_chunks: () => "The file reached the engine damaged.",
  internal: () => "The server failed.",
};

/** An Upload's error as {title, plain, detail}: detail is the server's own words. */
export function describeError(u) {
  const e = u.error ?? {};
  const title = errorTitle(e);
  if (e.local) return { title, plain: e.message || "", detail: "" };
  const plain = ERROR_PLAIN[e.code]?.(u) ?? (e.rejected ? "The server refused this file." : "The file was not analysed.");
  const detail = `Server: ${e.message || "no details"}${e.code ? ` (${e.code})` : ""}`;
  return { title, plain, detail };
}

const STATE_TEXT = {
  [State.QUEUED]: "Waiting",
  [State.STARTING]: "Starting",
  [State.UPLOADING]: "Uploading",
  [State.ANALYSING]: "Analysing",
  [State.RESUMING]: "Resuming",
};

// ---- verdicts ----

/** A verdict card (events.md "verdict"); title names what it is about. */
export function verdictCard(v, { title = "Verdict", note = "" } = {}) {
  const label = ["clean", "suspicious", "malicious"].includes(v.label) ? v.label : "unknown";
  const head = el("div", { class: "verdict__head" },
    el("span", { class: "verdict__label", text: capital(v.label || "unknown") }),
    el("span", { class: "verdict__score", text: `score ${Number(v.score) || 0} / 100` }));
  if (v.cached) head.append(el("span", { class: "badge badge--cached", text: "cached", attrs: { title: "Answered from the verdict cache" } }));
  if (v.partial) head.append(el("span", { class: "badge badge--partial", text: "partial", attrs: { title: "A module failed; this verdict covers what completed" } }));

  const card = el("section", { class: "verdict", attrs: { "data-label": label, "aria-label": title } },
    el("h4", { class: "verdict__title", text: title }), head);
  if (note) card.append(el("p", { class: "verdict__note", text: note }));

  const reasons = Array.isArray(v.reasons) ? v.reasons : [];
  if (reasons.length) {
    card.append(el("ul", { class: "verdict__reasons", attrs: { "aria-label": "Reasons" } },
      ...reasons.map((r) => el("li", { text: r }))));
  } else {
    card.append(el("p", { class: "verdict__reasons verdict__reasons--none", text: "No finding above info." }));
  }

  const facts = el("dl", { class: "facts" });
  if (v.sha256) facts.append(el("dt", { text: "SHA-256" }), el("dd", {}, el("code", { class: "hash", text: v.sha256 })));
  if (v.size !== undefined) facts.append(el("dt", { text: "Size" }), el("dd", { text: `${formatBytes(Number(v.size))} (${Number(v.size).toLocaleString("en")} bytes)` }));
  card.append(facts);

  const h = v.hashes ?? {};
  const other = ["md5", "sha1", "sha512"].filter((k) => h[k]);
  if (other.length) {
    const dl = el("dl", { class: "facts" });
    for (const k of other) dl.append(el("dt", { text: k.toUpperCase() }), el("dd", {}, el("code", { class: "hash", text: h[k] })));
    card.append(el("details", { class: "verdict__hashes" }, el("summary", { text: "Other hashes" }), dl));
  }
  return card;
}

// ---- findings ----

function describeDetail(f) {
  const d = f.detail;
  if (!d || typeof d !== "object") return "";
  if (typeof d.description === "string") return d.description;
  if (f.kind === "analysis_failed") return [d.reason, d.error].filter(Boolean).join(": ");
  const parts = [];
  for (const [k, v] of Object.entries(d)) {
    if (parts.length >= 4) break;
    if (v === null || v === "" || typeof v === "object") continue;
    parts.push(`${k} ${v}`);
  }
  return parts.join(", ");
}

export function findingItem(f) {
  const sev = severity(f.severity);
  const what = f.rule ? f.rule : f.kind || "finding";
  const where = f.length > 0
    ? `bytes ${Number(f.offset).toLocaleString("en")}–${(Number(f.offset) + Number(f.length)).toLocaleString("en")}`
    : "whole file";
  const meta = [f.module, f.rule ? f.kind : "", where].filter(Boolean).join(" · ");
  const detail = describeDetail(f);
  return el("li", { class: "finding", attrs: { "data-severity": sev } },
    el("span", { class: `sev sev--${sev}`, text: capital(sev) }),
    el("span", { class: "finding__body" },
      el("span", { class: "finding__what", text: what }),
      detail ? el("span", { class: "finding__detail", text: detail }) : null,
      el("span", { class: "finding__meta", text: meta })));
}

// A child group holds the findings of one extracted member (archive entry,
// embedded object, decoded layer) under its path; the child event that ends
// the member adds its verdict label, size and sha256.
function childGroup(path) {
  const g = {};
  g.what = el("span", { class: "finding__what", text: path });
  g.meta = el("span", { class: "finding__meta", text: "analysing" });
  g.list = el("ol", { class: "findings findings--child", attrs: { "aria-label": `Findings in ${path}` } });
  g.root = el("li", { class: "finding finding--child", attrs: { "data-severity": "info", "data-path": path } },
    el("span", { class: "sev sev--child", text: "Child" }),
    el("span", { class: "finding__body" }, g.what, g.meta, g.list));
  return g;
}

function childDone(g, c) {
  if (c.label) g.root.dataset.label = c.label;
  g.meta.textContent = [c.label ? capital(c.label) : "", c.size !== undefined ? formatBytes(Number(c.size)) : "", c.sha256 ?? ""]
    .filter(Boolean).join(" · ");
}

// ---- file cards ----

/** FileList renders Uploads as cards in an <ol>, the latest batch (u.batch) first. */
export class FileList {
  #list;
  #empty;
  #cards = new Map(); // upload id -> refs

  constructor(list, empty) {
    this.#list = list;
    this.#empty = empty;
  }

  /** Creates the card of u (once) and brings it up to date. */
  render(u, connected) {
    let c = this.#cards.get(u.id);
    if (!c) c = this.#create(u);
    this.#update(c, u, connected);
  }

  remove(u) {
    const c = this.#cards.get(u.id);
    if (!c) return;
    c.root.remove();
    this.#cards.delete(u.id);
    this.#empty.hidden = this.#cards.size > 0;
  }

  #create(u) {
    const nameId = `file-${u.id}-name`;
    const c = {};
    c.name = el("h3", { class: "file__name", text: u.name, attrs: { id: nameId } });
    c.state = el("span", { class: "file__state" });
    c.counts = el("span", { class: "file__counts" });
    c.cancel = el("button", { class: "button button--quiet", text: "Cancel", attrs: { type: "button", "data-action": "cancel", "data-id": u.id, "aria-describedby": nameId } });
    c.retry = el("button", { class: "button", text: "Send again", attrs: { type: "button", "data-action": "retry", "data-id": u.id, "aria-describedby": nameId } });
    c.sentBar = el("span", { class: "bar__sent" });
    c.ackedBar = el("span", { class: "bar__acked" });
    c.bar = el("div", { class: "bar", attrs: { role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-labelledby": nameId } },
      c.sentBar, c.ackedBar);
    c.sent = el("span", { class: "bytes__sent" });
    c.acked = el("span", { class: "bytes__acked" });
    c.analysed = el("span", { class: "bytes__analysed" });
    c.bytes = el("p", { class: "bytes" },
      el("span", { class: "key key--sent", attrs: { "aria-hidden": "true" } }), c.sent,
      el("span", { class: "key key--acked", attrs: { "aria-hidden": "true" } }), c.acked,
      c.analysed);
    c.error = el("p", { class: "file__error", attrs: { role: "alert" } });
    c.note = el("p", { class: "file__note" });
    c.findingsTitle = el("h4", { class: "findings__title", text: "Findings" });
    c.findings = el("ol", { class: "findings", attrs: { "aria-label": `Findings in ${u.name}` } });
    c.noFindings = el("p", { class: "findings__none", text: "None so far." });
    c.verdictSlot = el("div", { class: "file__verdict" });
    c.job = el("p", { class: "file__job" });
    c.shownFindings = 0; // findings and children rendered
    c.shownChildren = 0;
    c.groups = new Map(); // child path -> its group
    c.findingsOf = u.findings; // a retry replaces the array
    c.verdictShown = null;
    c.root = el("li", { class: "file", attrs: { "data-id": u.id, "data-batch": u.batch ?? 0, "aria-labelledby": nameId } },
      el("div", { class: "file__head" }, c.name, c.state, c.counts, el("span", { class: "file__actions" }, c.cancel, c.retry)),
      c.bar, c.bytes, c.error, c.note,
      el("div", { class: "file__body" },
        el("div", { class: "file__findings" }, c.findingsTitle, c.noFindings, c.findings),
        c.verdictSlot),
      c.job);
    // The latest files first, each batch in the order it was given.
    const older = [...this.#list.children].find((li) => Number(li.dataset.batch) < (u.batch ?? 0));
    this.#list.insertBefore(c.root, older ?? null);
    this.#cards.set(u.id, c);
    this.#empty.hidden = true;
    return c;
  }

  #update(c, u, connected) {
    c.root.dataset.state = u.state;
    // Findings come in order and are never removed: append the new ones.
    // A retried upload starts its card over.
    const items = u.findings.length + u.children.length;
    if (c.findingsOf !== u.findings) {
      c.findings.replaceChildren();
      c.shownFindings = c.shownChildren = 0;
      c.findingsOf = u.findings;
      c.groups = new Map();
    }
    // Findings of the file itself in the list; those of a child in its
    // group, created by the child's first finding or by its end.
    const group = (path) => {
      let g = c.groups.get(path);
      if (!g) {
        g = childGroup(path);
        c.groups.set(path, g);
        c.findings.append(g.root);
      }
      return g;
    };
    for (const f of u.findings.slice(c.shownFindings)) {
      if (f.path) group(f.path).list.append(findingItem(f));
      else c.findings.append(findingItem(f));
    }
    for (const ch of u.children.slice(c.shownChildren)) childDone(group(ch.path ?? "member"), ch);
    c.shownFindings = u.findings.length;
    c.shownChildren = u.children.length;
    c.noFindings.hidden = items > 0;
    c.findingsTitle.textContent = items ? `Findings (${items})` : "Findings";

    let state;
    if (u.state === State.DONE) state = capital(u.verdict?.label || "done");
    else if (u.state === State.FAILED) state = errorTitle(u.error);
    else if (u.cancelling) state = "Cancelling";
    else if (u.state === State.QUEUED && !connected) state = "Waiting for the connection";
    else state = STATE_TEXT[u.state];
    c.state.textContent = state;
    c.state.dataset.label = u.state === State.DONE ? (u.verdict?.label ?? "") : u.state;
    c.counts.textContent = severityCounts(u.findings);

    const size = Math.max(u.size, 1);
    const pSent = Math.min(100, (100 * u.sent) / size);
    const pAcked = Math.min(100, (100 * u.acked) / size);
    c.sentBar.style.width = `${u.size === 0 && u.state !== State.QUEUED ? 100 : pSent}%`;
    c.ackedBar.style.width = `${u.size === 0 && u.terminal ? 100 : pAcked}%`;
    c.bar.setAttribute("aria-valuenow", String(Math.round(pAcked)));
    c.bar.setAttribute("aria-valuetext", `${formatBytes(u.sent)} sent, ${formatBytes(u.acked)} acknowledged of ${formatBytes(u.size)}`);
    c.sent.textContent = `${formatBytes(u.sent)} sent`;
    c.acked.textContent = `${formatBytes(u.acked)} acknowledged of ${formatBytes(u.size)}`;
    c.analysed.textContent = u.analysed > 0 ? ` · ${formatBytes(u.analysed)} analysed` : "";

    c.error.hidden = u.state !== State.FAILED;
    if (u.state === State.FAILED && c.errorOf !== u.error) {
      const d = describeError(u);
      c.error.replaceChildren(el("strong", { text: `${d.title}. ` }), d.plain,
        d.detail ? el("span", { class: "file__error-detail", text: d.detail }) : "");
    }
    c.errorOf = u.state === State.FAILED ? u.error : null;
    let note = u.note;
    if (u.state === State.RESUMING) note = `The connection dropped after the upload; fetching the rest of job ${u.job}'s events. ${u.note}`;
    else if (u.fromCache) note = "The server knew this file: its verdict came from the cache and nothing was uploaded.";
    c.note.hidden = !note;
    c.note.textContent = note;

    c.cancel.hidden = u.terminal || u.state === State.RESUMING || u.cancelling;
    c.retry.hidden = !(u.state === State.FAILED && u.file);

    if (u.verdict !== c.verdictShown) {
      c.verdictSlot.replaceChildren(u.verdict ? verdictCard(u.verdict, { title: `Verdict for ${u.name}` }) : "");
      c.verdictShown = u.verdict;
    }
    c.job.textContent = u.job ? `job ${u.job}` : "";
  }
}

function severityCounts(findings) {
  if (!findings.length) return "";
  const n = {};
  for (const f of findings) n[severity(f.severity)] = (n[severity(f.severity)] ?? 0) + 1;
  return SEVERITIES.slice().reverse().filter((s) => n[s]).map((s) => `${n[s]} ${s}`).join(", ");
}

// ---- connection ----

/** Shows the connection's state in the header and, when lost, a banner. */
export function renderConnection(c, { pill, banner, bannerText }, serverName) {
  pill.dataset.state = c.state;
  pill.textContent = { open: "Connected", connecting: c.attempt > 0 ? "Reconnecting…" : "Connecting…", lost: "Disconnected" }[c.state];
  if (c.state === "open") {
    banner.hidden = true;
    return;
  }
  if (c.state === "connecting" && c.attempt === 0) return; // the first try: nothing to say yet
  banner.hidden = false;
  bannerText.textContent = c.state === "lost"
    ? `No connection to ${serverName}: ${c.reason}. Reconnecting in ${Math.max(1, Math.round(c.delay / 1000))} s (attempt ${c.attempt}).`
    : `No connection to ${serverName}. Reconnecting… (attempt ${c.attempt})`;
}

// ---- recent verdicts and the system panel ----

const LABELS = ["clean", "suspicious", "malicious"];

/** "12:04:05" today, "3 Nov, 12:04" before; "" for a bad time. */
export function formatTime(iso, now = new Date()) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay
    ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : d.toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

/**
 * One entry of the recent verdicts: the label written out, the file's name
 * when known (else the start of its sha256), the time, and a button that
 * looks the verdict up.
 */
export function recentItem(e, localName = "") {
  const v = e.verdict;
  const label = LABELS.includes(v.label) ? v.label : "unknown";
  const sha = String(e.sha256);
  const name = e.name || localName;
  const when = formatTime(e.time);
  const li = el("li", { class: "recent__item", attrs: { "data-sha": sha, "data-label": label } },
    el("span", { class: "recent__label file__state", attrs: { "data-label": label }, text: capital(v.label || "unknown") }),
    el("span", { class: "recent__what" },
      name ? el("span", { class: "recent__name", text: name }) : null,
      el("code", { class: "recent__sha hash", attrs: { title: sha }, text: `${sha.slice(0, 12)}…` })),
    el("span", { class: "recent__meta" },
      el("span", { class: "recent__score", text: `score ${Number(v.score) || 0}` }),
      when ? el("time", { class: "recent__time", attrs: { datetime: e.time }, text: when }) : null),
    el("button", { class: "button button--quiet recent__open", text: "Show",
      attrs: { type: "button", "data-sha": sha, "aria-label": `Show the verdict for ${name || sha.slice(0, 12)}` } }));
  if (v.partial) li.querySelector(".recent__meta").prepend(el("span", { class: "badge badge--partial", text: "partial" }));
  return li;
}

/** 1536 -> "1.5 KiB/s". */
export function formatRate(bytesPerSecond) {
  const n = Number(bytesPerSecond);
  return `${formatBytes(Number.isFinite(n) && n > 0 ? Math.round(n) : 0)}/s`;
}

/** Fills the system panel from one /v1/system/stream event. */
export function renderSystem(ev, $) {
  const engines = Array.isArray(ev.engines) ? ev.engines : [];
  const healthy = engines.filter((e) => e.healthy).length;
  const busy = engines.reduce((n, e) => n + (Number(e.busy) || 0), 0);
  const cap = engines.reduce((n, e) => n + (Number(e.capacity) || 0), 0);
  const ups = Number(ev.uploads_per_s) || 0;
  $("sys-throughput").textContent = formatRate(ev.bytes_in_per_s);
  $("sys-uploads").textContent = `${ups.toFixed(ups && ups < 10 ? 1 : 0)} files/s · ${Number(ev.uploads_total) || 0} since start`;
  $("sys-jobs").textContent = String(Number(ev.jobs_in_flight) || 0);
  $("sys-inflight").textContent = `${Number(ev.uploads_in_flight) || 0} uploading · ${Number(ev.ws_sessions) || 0} WebSocket${ev.ws_sessions === 1 ? "" : "s"}`;
  $("sys-engines").textContent = `${healthy} healthy`;
  $("sys-capacity").textContent = engines.length === healthy
    ? `${busy} of ${cap} slots busy`
    : `${engines.length - healthy} unhealthy · ${busy} of ${cap} slots busy`;
  const c = ev.cache;
  if (c && typeof c === "object") {
    const lookups = (Number(c.hits) || 0) + (Number(c.misses) || 0);
    $("sys-cache").textContent = lookups ? `${(100 * (Number(c.hit_rate) || 0)).toFixed(0)} %` : "–";
    const hits = Number(c.hits) || 0;
    const misses = Number(c.misses) || 0;
    $("sys-lookups").textContent = `${hits} hit${hits === 1 ? "" : "s"} · ${misses} miss${misses === 1 ? "" : "es"}`;
  } else {
    $("sys-cache").textContent = "Off";
    $("sys-lookups").textContent = "No verdict cache";
  }
  $("system").dataset.engines = String(healthy);
}
