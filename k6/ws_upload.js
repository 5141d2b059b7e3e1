// Streams files over the WebSocket /v1/stream (docs/api.md): start, wait for
// accepted, binary frames [stream: 2 bytes big endian][data] paced by the
// server's acks, end; then read events until the job's verdict.
import ws from 'k6/ws';
import { check } from 'k6';
import { Rate, Trend } from 'k6/metrics';
import { WS_BASE, loadFiles } from './lib.js';

const files = loadFiles();
const CHUNK = 256 * 1024;
const WINDOW = 4 * 1024 * 1024; // bytes sent and not yet acknowledged
const verdicts = new Rate('athena_ws_verdicts');
const timeToVerdict = new Trend('athena_ws_time_to_verdict', true);
const timeToFirstFinding = new Trend('athena_ws_time_to_first_finding', true);

export const options = {
  scenarios: {
    uploads: {
      executor: 'constant-vus',
      vus: Number(__ENV.VUS || 8),
      duration: __ENV.DURATION || '1m',
    },
  },
  thresholds: {
    // End-to-end: every file is accepted and ends with a verdict.
    'athena_ws_verdicts': ['rate>0.99'],
    'checks': ['rate>0.99'],
    'athena_ws_time_to_verdict': ['p(95)<10000'],
  },
  insecureSkipTLSVerify: __ENV.INSECURE === '1',
};

export default function () {
  const f = files[(__VU * 7919 + __ITER) % files.length];
  const stream = 1;
  const state = { accepted: false, rejected: null, last: null, sent: 0, acked: 0, ended: false };
  const start = Date.now();

  const sendMore = (socket) => {
    while (state.sent < f.size && state.sent - state.acked < WINDOW) {
      const n = Math.min(CHUNK, f.size - state.sent);
      const frame = new Uint8Array(2 + n);
      new DataView(frame.buffer).setUint16(0, stream);
      frame.set(new Uint8Array(f.data, state.sent, n), 2);
      socket.sendBinary(frame.buffer);
      state.sent += n;
    }
    if (state.sent === f.size && !state.ended) {
      socket.send(JSON.stringify({ type: 'end', stream }));
      state.ended = true;
    }
  };

  const res = ws.connect(`${WS_BASE}/v1/stream`, {}, (socket) => {
    socket.on('open', () => {
      socket.send(JSON.stringify({ type: 'start', stream, name: f.name, size: f.size }));
    });
    socket.on('message', (raw) => {
      const m = JSON.parse(raw);
      if (!m.v) { // a control message
        if (m.type === 'accepted' && m.stream === stream) {
          state.accepted = true;
          sendMore(socket);
        } else if (m.type === 'ack' && m.stream === stream) {
          state.acked = m.bytes;
          sendMore(socket);
        } else if (m.type === 'rejected') {
          state.rejected = m.error;
          socket.close();
        }
        return;
      }
      if (m.type === 'finding' && state.firstFinding === undefined) {
        state.firstFinding = Date.now() - start;
      }
      if (m.type === 'verdict' || m.type === 'error') {
        state.last = m;
        socket.close();
      }
    });
    socket.setTimeout(() => socket.close(), Number(__ENV.TIMEOUT_MS || 600000));
  });

  const last = state.last;
  const ok = check(res, {
    'upgraded (101)': (r) => r && r.status === 101,
    'accepted': () => state.accepted && !state.rejected,
    'ends with a verdict': () => !!last && last.type === 'verdict',
    'verdict is of the whole file': () => !!last && !!last.verdict && last.verdict.size === f.size,
    'EICAR is malicious': () => !f.eicar || (!!last && !!last.verdict && last.verdict.label === 'malicious'),
  });
  verdicts.add(ok);
  if (last && last.type === 'verdict') timeToVerdict.add(Date.now() - start);
  if (state.firstFinding !== undefined) timeToFirstFinding.add(state.firstFinding);
}
