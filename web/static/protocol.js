// The client side of Athena's API (docs/api.md): files stream over one
// WebSocket (/v1/stream), each under a stream number of ours, paced by the
// server's `ack`s; the job's events (docs/events.md) come back on the same
// socket. When the socket drops, jobs whose bytes were all sent are resumed
// over HTTP (GET /v1/jobs/{id}/events?after=N). No DOM here: the page
// listens to the Client's events.

/** Bytes of file data per binary frame. */
export const FRAME_BYTES = 256 * 1024;
/** Bytes of one file sent and not yet acknowledged, at most. */
export const WINDOW_BYTES = 4 * 1024 * 1024;
/** The browser's own send buffer we let fill before we wait. */
const BUFFERED_LIMIT = 2 * 1024 * 1024;
/** Files started and not ended on one connection (the server allows 16). */
const MAX_IN_FLIGHT = 12;
/** Reconnection delays: the first, doubling up to the last. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5000;
/** Replays of one job that end without its last event before we give up. */
const REPLAY_TRIES = 5;

/** The states of an Upload, in order of a normal life. */
export const State = Object.freeze({
  QUEUED: "queued", // waiting for the connection or a free slot
  STARTING: "starting", // `start` sent, waiting for `accepted`
  UPLOADING: "uploading", // sending bytes
  ANALYSING: "analysing", // `end` sent, waiting for the verdict
  RESUMING: "resuming", // the connection dropped after `end`: replaying
  DONE: "done", // the verdict came
  FAILED: "failed", // an error ended it (see Upload.error)
});

const TERMINAL = new Set([State.DONE, State.FAILED]);

/** One file and what the server said about it. */
export class Upload {
  constructor(id, file) {
    this.id = id;
    this.file = file;
    this.name = file.name || "unnamed";
    this.size = file.size;
    this.reset();
  }

  reset() {
    this.state = State.QUEUED;
    this.stream = 0; // our stream number on conn
    this.conn = null; // the WebSocket the file went out on
    this.job = ""; // the server's job id
    this.sent = 0; // bytes handed to the WebSocket
    this.acked = 0; // bytes JetStream holds (`ack`)
    this.analysed = 0; // bytes the engine went through (`progress`)
    this.lastSeq = 0; // the last event seq we have
    this.findings = [];
    this.children = [];
    this.verdict = null;
    this.error = null; // {code, message}
    this.cancelling = false;
    this.wake = null; // resumes the sender waiting for room
    this.note = ""; // a passing remark, e.g. why a replay is retried
    this.fromCache = false; // the server answered from its verdict cache, unsent
    this.replaying = false; // a replay request is running
  }

  get terminal() {
    return TERMINAL.has(this.state);
  }
}

/**
 * Client owns the WebSocket, reconnects it, starts queued files and maps
 * the server's messages to Uploads. It dispatches:
 *   "connection" {state: "connecting"|"open"|"lost", reason, delay, attempt}
 *   "upload"     {upload}            something about the file changed
 *   "finding"    {upload, finding}   a new finding (also in upload.findings)
 *   "child"      {upload, child}
 * An Upload's error is {code, message}, with rejected: true for a refused
 * `start` and local: true for what the page itself found (message in
 * plain words).
 */
export class Client extends EventTarget {
  #base;
  #wsURL;
  #ws = null;
  #uploads = [];
  #streams = new Map(); // stream number -> Upload, on #ws
  #jobs = new Map(); // job id -> Upload
  #nextStream = 1;
  #nextId = 1;
  #attempt = 0;
  #timer = 0;
  connection = { state: "connecting", reason: "", delay: 0, attempt: 0 };

  /** @param {URL} base the server's base URL, ending in "/" */
  constructor(base) {
    super();
    this.#base = base;
    const ws = new URL("v1/stream", base);
    ws.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    this.#wsURL = ws.href;
  }

  get base() {
    return this.#base;
  }

  get uploads() {
    return this.#uploads;
  }

  /** Opens the connection; later drops reconnect on their own. */
  connect() {
    this.#open();
  }

  /** Reconnects at once instead of waiting for the next attempt. */
  reconnectNow() {
    if (this.#ws === null) this.#open();
  }

  /** Queues files; they start as soon as the connection has room. */
  add(files) {
    const added = [];
    for (const file of files) {
      const u = new Upload(this.#nextId++, file);
      this.#uploads.push(u);
      added.push(u);
    }
    this.#pump();
    return added;
  }

  /** Stops a file: the server ends its job with a `cancelled` error. */
  cancel(u) {
    switch (u.state) {
      case State.QUEUED:
        this.#fail(u, { code: "cancelled", message: "Cancelled before it was sent.", local: true });
        return;
      case State.STARTING:
      case State.UPLOADING:
      case State.ANALYSING:
        if (u.cancelling) return;
        u.cancelling = true;
        this.#wakeSender(u);
        this.#sendJSON(u.conn, { type: "cancel", stream: u.stream });
        this.#changed(u);
        return;
      default:
    }
  }

  /** Sends a file that failed again, from its first byte. */
  retry(u) {
    if (!u.terminal || u.state === State.DONE) return;
    if (u.job) this.#jobs.delete(u.job);
    u.reset();
    this.#changed(u);
    this.#pump();
  }

  /** Forgets files that have ended. */
  clearFinished() {
    const gone = this.#uploads.filter((u) => u.terminal);
    this.#uploads = this.#uploads.filter((u) => !u.terminal);
    for (const u of gone) if (u.job) this.#jobs.delete(u.job);
    return gone;
  }

  // ---- connection ----

  #open() {
    clearTimeout(this.#timer);
    this.#timer = 0;
    this.#setConnection({ state: "connecting", reason: "", delay: 0, attempt: this.#attempt });
    let ws;
    try {
      ws = new WebSocket(this.#wsURL);
    } catch (err) {
      this.#lost(null, `cannot open ${this.#wsURL}: ${err.message}`);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    this.#nextStream = 1;
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      this.#attempt = 0;
      this.#setConnection({ state: "open", reason: "", delay: 0, attempt: 0 });
      for (const u of this.#uploads) if (u.state === State.RESUMING) this.#resume(u);
      this.#pump();
    };
    ws.onmessage = (m) => {
      if (ws === this.#ws) this.#onMessage(m.data);
    };
    ws.onclose = (ev) => {
      if (ws === this.#ws) this.#lost(ws, describeClose(ev));
    };
  }

  #lost(ws, reason) {
    this.#ws = null;
    this.#streams.clear();
    for (const u of this.#uploads) {
      if (ws === null || u.conn !== ws) continue;
      switch (u.state) {
        case State.STARTING:
          if (u.cancelling) {
            this.#fail(u, { code: "cancelled", message: "Cancelled before it was sent.", local: true });
          } else {
            // No byte went out: it starts again on the next connection.
            u.reset();
            this.#changed(u);
          }
          break;
        case State.UPLOADING:
          this.#fail(u, {
            code: "connection_lost",
            local: true,
            message: `The connection to the server was lost during the upload (${reason}). ` +
              "The file was not analysed; send it again when the server is back.",
          });
          break;
        case State.ANALYSING:
          if (u.cancelling) {
            this.#fail(u, { code: "cancelled", message: "Cancelled; the connection closed before the server confirmed it.", local: true });
          } else {
            u.state = State.RESUMING;
            this.#changed(u);
          }
          break;
        default:
      }
    }
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.#attempt);
    this.#attempt++;
    this.#setConnection({ state: "lost", reason, delay, attempt: this.#attempt });
    this.#timer = setTimeout(() => this.#open(), delay * (0.8 + 0.4 * Math.random()));
  }

  #setConnection(c) {
    this.connection = c;
    this.dispatchEvent(new CustomEvent("connection", { detail: c }));
  }

  #sendJSON(ws, msg) {
    if (ws && ws === this.#ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  // ---- starting files ----

  #pump() {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    let inFlight = 0;
    for (const u of this.#uploads) {
      if (u.conn === ws && (u.state === State.STARTING || u.state === State.UPLOADING || u.state === State.ANALYSING)) inFlight++;
    }
    for (const u of this.#uploads) {
      if (inFlight >= MAX_IN_FLIGHT) break;
      if (u.state !== State.QUEUED) continue;
      const n = this.#allocStream();
      if (n === 0) break;
      u.stream = n;
      u.conn = ws;
      u.state = State.STARTING;
      this.#streams.set(n, u);
      this.#sendJSON(ws, { type: "start", stream: n, name: safeName(u.name), size: u.size });
      inFlight++;
      this.#changed(u);
    }
  }

  #allocStream() {
    for (let i = 0; i < 65535; i++) {
      const n = this.#nextStream;
      this.#nextStream = n >= 65535 ? 1 : n + 1;
      if (!this.#streams.has(n)) return n;
    }
    return 0;
  }

  // ---- server messages ----

  #onMessage(data) {
    if (typeof data !== "string") return; // the server sends no binary messages
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg === null || typeof msg !== "object") return;
    if (msg.v !== undefined) {
      const u = this.#jobs.get(msg.job);
      if (u) this.#applyEvent(u, msg);
      return;
    }
    const u = this.#streams.get(msg.stream);
    if (!u) return;
    switch (msg.type) {
      case "accepted":
        if (u.state !== State.STARTING) return;
        u.job = String(msg.job);
        this.#jobs.set(u.job, u);
        if (msg.cached === true) {
          // A known file (a start that declared its sha256): the verdict
          // follows at once and no byte is to be sent.
          u.fromCache = true;
          u.state = State.ANALYSING;
          this.#changed(u);
          return;
        }
        u.state = State.UPLOADING;
        this.#changed(u);
        // A file cancelled before it was accepted waits for its
        // `cancelled` error and sends nothing.
        if (!u.cancelling) this.#send(u, this.#ws);
        return;
      case "rejected":
        this.#streams.delete(u.stream);
        this.#fail(u, { code: msg.error?.code ?? "rejected", message: msg.error?.message ?? "", rejected: true });
        this.#pump();
        return;
      case "ack":
        if (typeof msg.bytes === "number" && msg.bytes > u.acked) {
          u.acked = msg.bytes;
          this.#wakeSender(u);
          this.#changed(u);
        }
        return;
      default:
    }
  }

  /** Applies one event of u's job, from the socket or a replay. */
  #applyEvent(u, ev) {
    if (u.terminal) return;
    const seq = Number(ev.seq) || 0;
    if (seq > 0) {
      if (seq <= u.lastSeq) return; // a replay or a redelivery repeats what we have
      u.lastSeq = seq;
    }
    switch (ev.type) {
      case "progress":
        u.analysed = Math.max(u.analysed, Number(ev.progress?.bytes) || 0);
        this.#changed(u);
        return;
      case "finding":
        if (!ev.finding) return;
        u.findings.push(ev.finding);
        this.dispatchEvent(new CustomEvent("finding", { detail: { upload: u, finding: ev.finding } }));
        this.#changed(u);
        return;
      case "child":
        if (!ev.child) return;
        u.children.push(ev.child);
        this.dispatchEvent(new CustomEvent("child", { detail: { upload: u, child: ev.child } }));
        this.#changed(u);
        return;
      case "verdict":
        u.verdict = ev.verdict ?? {};
        // The verdict may overtake the last ack: the server has it all.
        u.acked = Math.max(u.acked, u.sent);
        this.#finish(u, State.DONE);
        return;
      case "error":
        u.error = { code: ev.error?.code ?? "error", message: ev.error?.message ?? "" };
        this.#finish(u, State.FAILED);
        return;
      default:
    }
  }

  #fail(u, error) {
    u.error = error;
    this.#finish(u, State.FAILED);
  }

  #finish(u, state) {
    const sending = u.state === State.STARTING || u.state === State.UPLOADING;
    u.state = state;
    u.note = "";
    if (u.stream && this.#streams.get(u.stream) === u) {
      this.#streams.delete(u.stream);
      // The server ended the file before our `end`: it drops our frames
      // for the number until we say we are done with it.
      if (sending && !u.cancelling) this.#sendJSON(u.conn, { type: "cancel", stream: u.stream });
    }
    this.#wakeSender(u);
    this.#changed(u);
    this.#pump();
  }

  #changed(u) {
    this.dispatchEvent(new CustomEvent("upload", { detail: { upload: u } }));
  }

  // ---- sending bytes ----

  #sending(u, ws) {
    return u.state === State.UPLOADING && !u.cancelling && u.conn === ws && this.#ws === ws &&
      ws.readyState === WebSocket.OPEN;
  }

  #wakeSender(u) {
    const wake = u.wake;
    u.wake = null;
    if (wake) wake();
  }

  /** Resolves when u may send one more frame, or should stop. */
  #room(u, ws) {
    return new Promise((resolve) => {
      const check = () => {
        u.wake = null;
        if (!this.#sending(u, ws)) return resolve();
        const windowOK = u.sent - u.acked + FRAME_BYTES <= WINDOW_BYTES;
        if (windowOK && ws.bufferedAmount < BUFFERED_LIMIT) return resolve();
        u.wake = check; // an ack, a cancel or the end of the file calls it
        if (windowOK) setTimeout(() => u.wake === check && check(), 10); // the browser's buffer drains without telling
      };
      check();
    });
  }

  /** Sends u's bytes in frames of [stream, big endian][data], then `end`. */
  async #send(u, ws) {
    const n = u.stream;
    try {
      while (u.sent < u.size) {
        await this.#room(u, ws);
        if (!this.#sending(u, ws)) return;
        const to = Math.min(u.size, u.sent + FRAME_BYTES);
        const data = await u.file.slice(u.sent, to).arrayBuffer();
        if (!this.#sending(u, ws)) return;
        const frame = new Uint8Array(2 + data.byteLength);
        frame[0] = n >> 8;
        frame[1] = n & 0xff;
        frame.set(new Uint8Array(data), 2);
        ws.send(frame);
        u.sent = to;
        this.#changed(u);
      }
      if (!this.#sending(u, ws)) return;
      this.#sendJSON(ws, { type: "end", stream: n });
      u.state = State.ANALYSING;
      this.#changed(u);
    } catch (err) {
      if (!this.#sending(u, ws)) return;
      this.#sendJSON(ws, { type: "cancel", stream: n });
      u.cancelling = true;
      this.#fail(u, { code: "read_failed", message: `The browser could not read the file: ${err.message}`, local: true });
    }
  }

  // ---- resuming after a drop ----

  /** Replays u's events after the last one we have, until its last event. */
  async #resume(u) {
    if (u.replaying) return;
    u.replaying = true;
    try {
      for (let tries = 1; u.state === State.RESUMING; tries++) {
        const url = new URL(`v1/jobs/${encodeURIComponent(u.job)}/events?after=${u.lastSeq}`, this.#base);
        let res = null;
        try {
          res = await fetch(url, { cache: "no-store", headers: { Accept: "application/x-ndjson" } });
        } catch (err) {
          // The server is gone again, and the next connection resumes; or
          // it is up but refuses this page's fetch (CORS, CSP): say so.
          if (this.#ws?.readyState !== WebSocket.OPEN) return;
          u.note = `The replay request failed (${err.message}); trying again.`;
        }
        if (res !== null && res.status === 404) {
          this.#fail(u, { code: "not_found", message: "The server no longer knows this job, so its verdict cannot be recovered.", local: true });
          return;
        }
        if (res !== null && res.ok) {
          try {
            await readNDJSON(res.body, (ev) => {
              if (ev && ev.job === u.job) this.#applyEvent(u, ev);
            });
          } catch {
            // cut short: try again below
          }
          if (u.state !== State.RESUMING) return;
          u.note = "The replay ended before the verdict; trying again.";
        } else if (res !== null) {
          const body = await errorBody(res);
          u.note = `Replay answered ${res.status}${body ? `: ${body}` : ""}; trying again.`;
        }
        if (tries >= REPLAY_TRIES) {
          this.#fail(u, { code: "resume_failed", message: `Could not recover the events of job ${u.job}. ${u.note}`, local: true });
          return;
        }
        this.#changed(u);
        await sleep(1000 * tries);
        if (this.#ws === null) return; // the next connection resumes
      }
    } finally {
      u.replaying = false;
    }
  }
}

/**
 * Looks a verdict up by sha256. It answers {found: verdict}, {unavailable:
 * true} when the server has no verdict for it or no lookup endpoint yet
 * (404, 405), or {error: message}.
 */
export async function lookupVerdict(base, sha256) {
  let res;
  try {
    res = await fetch(new URL(`v1/verdicts/${sha256}`, base), { cache: "no-store", headers: { Accept: "application/json" } });
  } catch (err) {
    return { error: `Could not reach the server (${err.message}).` };
  }
  if (res.status === 404 || res.status === 405 || res.status === 501) return { unavailable: true };
  if (!res.ok) {
    const body = await errorBody(res);
    return { error: `The server answered ${res.status}${body ? `: ${body}` : ""}.` };
  }
  try {
    const v = await res.json();
    return { found: v && typeof v.verdict === "object" ? v.verdict : v };
  } catch {
    return { error: "The server's answer was not JSON." };
  }
}

/**
 * The server's most recent final verdicts, newest first (GET
 * /v1/verdicts/recent). It answers {verdicts: [...]}, each {sha256, name?,
 * time, verdict}, or {error: message}.
 */
export async function recentVerdicts(base, limit = 50) {
  let res;
  try {
    res = await fetch(new URL(`v1/verdicts/recent?limit=${limit}`, base), { cache: "no-store", headers: { Accept: "application/json" } });
  } catch (err) {
    return { error: `Could not reach the server (${err.message}).` };
  }
  if (!res.ok) {
    const body = await errorBody(res);
    return { error: `The server answered ${res.status}${body ? `: ${body}` : ""}.` };
  }
  try {
    const b = await res.json();
    const list = Array.isArray(b?.verdicts) ? b.verdicts : [];
    return { verdicts: list.filter((e) => e && typeof e.sha256 === "string" && e.verdict && typeof e.verdict === "object") };
  } catch {
    return { error: "The server's answer was not JSON." };
  }
}

/**
 * Follows the server's system stream (GET /v1/system/stream, Server-Sent
 * Events): onEvent gets each parsed event, onState "open", "reconnecting"
 * or "closed". EventSource retries a dropped stream by itself, but gives up
 * on an HTTP error (a proxy's 502 while the server restarts): it is then
 * opened again, with a growing delay. Returns {stop, reconnectNow}:
 * reconnectNow opens it at once if it is not open (the WebSocket just
 * reconnected, so the server is back).
 */
export function followSystem(base, onEvent, onState) {
  let es = null;
  let timer = 0;
  let delay = RETRY_FIRST_MS;
  let stopped = false;
  const open = () => {
    timer = 0;
    if (stopped) return;
    es = new EventSource(new URL("v1/system/stream", base));
    es.onopen = () => {
      delay = RETRY_FIRST_MS;
      onState("open");
    };
    es.onmessage = (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      if (ev && typeof ev === "object") onEvent(ev);
    };
    es.onerror = () => {
      onState("reconnecting");
      if (es.readyState !== EventSource.CLOSED) return; // it retries itself
      es = null;
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    };
  };
  open();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      es?.close();
      onState("closed");
    },
    reconnectNow() {
      if (stopped || es?.readyState === EventSource.OPEN) return;
      clearTimeout(timer);
      es?.close();
      delay = RETRY_FIRST_MS;
      open();
    },
  };
}

/** Reads a body of newline-delimited JSON, calling onValue for each. */
export async function readNDJSON(body, onValue) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) onValue(JSON.parse(line));
    }
  }
  if (buf.trim()) onValue(JSON.parse(buf));
}

/** The message of a JSON error body {"error":{"code","message"}}, if any. */
async function errorBody(res) {
  try {
    const b = await res.json();
    return b?.error?.message || b?.error?.code || "";
  } catch {
    return "";
  }
}

/** Says in words why a WebSocket closed. */
export function describeClose(ev) {
  const why = ev.reason ? `: ${ev.reason}` : "";
  switch (ev.code) {
    case 1000:
      return "the connection was closed";
    case 1001:
      return "the server is shutting down";
    case 1003:
      return `the server refused a message${why}`;
    case 1006:
      return "the connection dropped or the server cannot be reached";
    case 1008:
      return `the server refused the connection${why}`;
    case 1009:
      return "a message was too large for the server";
    default:
      return `the connection closed (code ${ev.code}${why})`;
  }
}

/** A file name the server takes: no control characters, at most 255 bytes. */
export function safeName(name) {
  // eslint-disable-next-line no-control-regex
  let s = String(name).replace(/[\u0000-\u001f\u007f-\u009f]/g, "_");
  const enc = new TextEncoder();
  while (enc.encode(s).length > 255) s = s.slice(0, -1);
  return s;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
