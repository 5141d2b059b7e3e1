// Athena's dashboard: wires the page to the Client (protocol.js) and the
// renderers (ui.js). The API is the server that served the page, unless
// the URL names another with ?server=http://host:port.

import { Client, followSystem, lookupVerdict, recentVerdicts, State } from "./protocol.js";
import { FileList, el, errorTitle, recentItem, renderConnection, renderSystem, verdictCard } from "./ui.js";

const $ = (id) => document.getElementById(id);

/** The API's base URL (ending in "/") and an error if ?server= was unusable. */
function serverBase() {
  const here = new URL("./", location.href);
  const param = new URLSearchParams(location.search).get("server");
  if (!param) return { base: here };
  try {
    const u = new URL(param);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http or https");
    if (!u.pathname.endsWith("/")) u.pathname += "/";
    u.search = u.hash = "";
    return { base: u };
  } catch (err) {
    return { base: here, error: `Ignoring ?server=${param}: ${err.message}. Using ${here.origin}.` };
  }
}

const { base, error: baseError } = serverBase();
const serverName = base.host;
const client = new Client(base);
const files = new FileList($("files"), $("files-empty"));
const conn = { pill: $("conn"), banner: $("banner"), bannerText: $("banner-text") };
const announcer = $("announcer");

function announce(text) {
  announcer.textContent = text;
}

// ---- rendering, at most once a frame ----

const dirty = new Set();
let frame = 0;

function schedule(u) {
  dirty.add(u);
  if (!frame) frame = requestAnimationFrame(flush);
}

function flush() {
  frame = 0;
  const connected = client.connection.state === "open";
  for (const u of dirty) if (client.uploads.includes(u)) files.render(u, connected);
  dirty.clear();
  $("clear-done").disabled = !client.uploads.some((u) => u.terminal);
}

let wasLost = false; // the WebSocket dropped since it was last open
const announced = new WeakMap(); // upload -> the terminal state announced

client.addEventListener("upload", (e) => {
  const u = e.detail.upload;
  schedule(u);
  if (u.terminal && announced.get(u) !== u.findings) {
    announced.set(u, u.findings);
    if (u.state === State.DONE && u.verdict?.sha256) refreshRecentSoon(u.verdict.sha256);
    if (u.state === State.DONE) announce(`${u.name}: ${u.verdict?.label ?? "done"}, score ${u.verdict?.score ?? 0}.`);
    else announce(`${u.name}: ${errorTitle(u.error)}. ${u.error?.message ?? ""}`);
  }
});

client.addEventListener("finding", (e) => {
  const { upload, finding } = e.detail;
  announce(`${upload.name}: ${finding.severity} finding, ${finding.rule || finding.kind}.`);
});

client.addEventListener("connection", (e) => {
  renderConnection(e.detail, conn, serverName);
  if (e.detail.state === "open") {
    // Back after a drop: the server may have restarted; catch up.
    system?.reconnectNow();
    if (wasLost) refreshRecent();
    wasLost = false;
  } else if (e.detail.state === "lost") {
    wasLost = true;
  }
  // Queued files say whether they wait for the connection.
  for (const u of client.uploads) if (u.state === State.QUEUED) schedule(u);
});

// ---- adding files ----

let batches = 0;

function addFiles(list) {
  const picked = [...list];
  if (!picked.length) return;
  const batch = ++batches;
  for (const u of client.add(picked)) {
    u.batch = batch;
    schedule(u);
  }
  announce(`${picked.length} file${picked.length === 1 ? "" : "s"} added.`);
}

const input = $("file-input");
input.addEventListener("change", () => {
  addFiles(input.files);
  input.value = ""; // the same file may be picked again
});

// Files may be dropped anywhere on the page; the drop zone lights up.
const drop = $("drop");
let dragDepth = 0;
const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
document.addEventListener("dragenter", (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  dragDepth++;
  drop.classList.add("is-over");
});
document.addEventListener("dragleave", (e) => {
  if (!hasFiles(e)) return;
  if (--dragDepth <= 0) {
    dragDepth = 0;
    drop.classList.remove("is-over");
  }
});
document.addEventListener("dragover", (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = "copy";
});
document.addEventListener("drop", (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  dragDepth = 0;
  drop.classList.remove("is-over");
  // Folders arrive as empty "files" that cannot be read: leave them out.
  const items = [...(e.dataTransfer.items ?? [])];
  const folders = items.filter((it) => it.webkitGetAsEntry?.()?.isDirectory).length;
  const list = [...e.dataTransfer.files].filter((_, i) => !items[i]?.webkitGetAsEntry?.()?.isDirectory);
  if (folders) announce(`${folders} folder${folders === 1 ? "" : "s"} left out: drop the files inside.`);
  addFiles(list);
});

// ---- file actions ----

$("files").addEventListener("click", (e) => {
  const b = e.target.closest("button[data-action]");
  if (!b) return;
  const u = client.uploads.find((x) => String(x.id) === b.dataset.id);
  if (!u) return;
  if (b.dataset.action === "cancel") client.cancel(u);
  if (b.dataset.action === "retry") client.retry(u);
});

$("clear-done").addEventListener("click", () => {
  for (const u of client.clearFinished()) files.remove(u);
  $("clear-done").disabled = true;
  $("files-heading").focus();
});

$("banner-retry").addEventListener("click", () => client.reconnectNow());
window.addEventListener("online", () => client.reconnectNow());

// ---- verdict lookup ----

const lookupForm = $("lookup");
const shaInput = $("lookup-sha");
const result = $("lookup-result");

// The result says how the last lookup ended in data-outcome (pending,
// invalid, found, unavailable, error) and for which hash in data-sha.
function showLookup(sha, outcome, ...nodes) {
  result.dataset.sha = sha;
  result.dataset.outcome = outcome;
  result.replaceChildren(...nodes);
}

lookupForm.addEventListener("submit", (e) => {
  e.preventDefault();
  lookup(shaInput.value);
});

async function lookup(text) {
  const sha = text.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(sha)) {
    shaInput.setAttribute("aria-invalid", "true");
    showLookup(sha, "invalid", el("p", { class: "notice notice--error", text: "A SHA-256 is 64 hexadecimal digits (0–9, a–f)." }));
    shaInput.focus();
    return;
  }
  shaInput.removeAttribute("aria-invalid");
  const button = $("lookup-go");
  button.disabled = true;
  showLookup(sha, "pending", el("p", { class: "notice", text: "Looking up…" }));
  const r = await lookupVerdict(base, sha);
  button.disabled = false;
  if (r.found) {
    showLookup(sha, "found", verdictCard(r.found, { title: `Verdict for ${sha.slice(0, 12)}…` }));
    return;
  }
  const out = [];
  if (r.unavailable) {
    out.push(el("p", { class: "notice notice--unavailable", text: "Not available yet: the server has no verdict it can show for this SHA-256." }));
  } else {
    out.push(el("p", { class: "notice notice--error", text: r.error }));
  }
  const seen = client.uploads.find((u) => u.verdict?.sha256 === sha);
  if (seen) out.push(verdictCard(seen.verdict, { title: `Verdict for ${seen.name}`, note: "From a file this page analysed earlier." }));
  const known = recent.get(sha);
  if (!seen && known) out.push(verdictCard(known.verdict, { title: `Verdict for ${known.name || sha.slice(0, 12) + "…"}`, note: "From the server's recent verdicts." }));
  showLookup(sha, r.unavailable ? "unavailable" : "error", ...out);
}

shaInput.addEventListener("input", () => shaInput.removeAttribute("aria-invalid"));

// ---- recent verdicts, from the server ----

// The page talks to the server that served it with fetch and EventSource;
// the CSP (connect-src 'self') keeps them from another one (?server=).
const sameOrigin = base.origin === location.origin;
const recentList = $("recent");
const recentStatus = $("recent-status");
const recent = new Map(); // sha256 -> the entry shown
let recentLoading = null;

function localName(sha) {
  return client.uploads.findLast((u) => u.verdict?.sha256 === sha)?.name ?? "";
}

/** Loads the list from the server. */
async function loadRecent() {
  if (!sameOrigin) {
    recentStatus.hidden = false;
    recentStatus.textContent = `Recent verdicts are shown when the page comes from the server it uses (${serverName}).`;
    recentList.dataset.state = "unavailable";
    $("recent-refresh").disabled = true;
    return;
  }
  recentList.dataset.state = "loading";
  const r = await recentVerdicts(base, 50);
  if (r.error) {
    recentList.dataset.state = "error";
    recentStatus.hidden = false;
    recentStatus.textContent = `Could not load the recent verdicts. ${r.error}`;
    return;
  }
  recent.clear();
  recentList.replaceChildren(...r.verdicts.map((e) => {
    recent.set(e.sha256, e);
    return recentItem(e, localName(e.sha256));
  }));
  recentStatus.hidden = r.verdicts.length > 0;
  recentStatus.textContent = r.verdicts.length ? "" : "No verdicts yet.";
  recentList.dataset.state = "loaded";
}

function refreshRecent() {
  if (!recentLoading) recentLoading = loadRecent().finally(() => { recentLoading = null; });
  return recentLoading;
}

// A verdict reaches the page a moment before the server stores it on the
// verdicts stream: look a few times, briefly.
let recentTimer = 0;
function refreshRecentSoon(sha, tries = 4, delay = 300) {
  clearTimeout(recentTimer);
  recentTimer = setTimeout(async () => {
    await refreshRecent();
    if (sameOrigin && !recent.has(sha) && tries > 1) refreshRecentSoon(sha, tries - 1, delay * 2);
  }, delay);
}

$("recent-refresh").addEventListener("click", () => refreshRecent());
recentList.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-sha]");
  if (!b) return;
  shaInput.value = b.dataset.sha;
  shaInput.removeAttribute("aria-invalid");
  lookup(b.dataset.sha);
  $("lookup-heading").scrollIntoView({ block: "start" });
});

// ---- the system panel, from the server's stream ----

const systemState = $("system-state");
const STREAM_TEXT = { open: "Live", reconnecting: "Reconnecting…", closed: "Stopped", unavailable: "Not available" };

function setSystemState(state) {
  systemState.dataset.state = state;
  systemState.textContent = STREAM_TEXT[state] ?? state;
  $("system").dataset.state = state;
}

let system = null;

function startSystem() {
  if (!sameOrigin) {
    setSystemState("unavailable");
    systemState.title = `Shown when the page comes from the server it uses (${serverName}).`;
    return;
  }
  system = followSystem(base, (ev) => {
    renderSystem(ev, $);
    if (systemState.dataset.state !== "open") setSystemState("open");
  }, setSystemState);
}

// A page that is left closes its stream (a page kept in the back/forward
// cache must not hold a connection) and opens it again if it comes back.
window.addEventListener("pagehide", () => {
  system?.stop();
  system = null;
});
window.addEventListener("pageshow", (e) => {
  if (e.persisted && !system) {
    startSystem();
    refreshRecent();
  }
});

// ---- start ----

if (baseError) {
  $("config-error").hidden = false;
  $("config-error").textContent = baseError;
}
client.connect();
refreshRecent();
startSystem();
