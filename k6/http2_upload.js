// Streams files to POST /v1/analyze and checks each ends with a verdict.
//
// k6 speaks HTTP/2 only over TLS (ALPN): point ATHENA_URL at an https://
// gateway to measure HTTP/2; against http:// (h2c) k6 falls back to
// HTTP/1.1, which the gateway also serves. See README.md.
import http from 'k6/http';
import { check } from 'k6';
import { Rate, Trend } from 'k6/metrics';
import { BASE, loadFiles, parseEvents, terminal } from './lib.js';

const files = loadFiles();
const verdicts = new Rate('athena_upload_verdicts');
const timeToVerdict = new Trend('athena_time_to_verdict', true);
const uploadBytes = new Trend('athena_upload_bytes');

export const options = {
  scenarios: {
    uploads: {
      executor: 'constant-vus',
      vus: Number(__ENV.VUS || 8),
      duration: __ENV.DURATION || '1m',
    },
  },
  thresholds: {
    // End-to-end: every upload ends with a verdict, and the checks hold.
    'athena_upload_verdicts': ['rate>0.99'],
    'checks': ['rate>0.99'],
    'http_req_failed{name:analyze}': ['rate<0.01'],
    'athena_time_to_verdict': ['p(95)<10000'],
  },
  insecureSkipTLSVerify: __ENV.INSECURE === '1',
};

export default function () {
  const f = files[(__VU * 7919 + __ITER) % files.length];
  const res = http.post(`${BASE}/v1/analyze?name=${encodeURIComponent(f.name)}`, f.data, {
    headers: { 'Content-Type': 'application/octet-stream' },
    tags: { name: 'analyze' },
    timeout: __ENV.TIMEOUT || '10m',
  });
  let events = [];
  try {
    events = parseEvents(res.body);
  } catch (e) {
    events = [];
  }
  const last = terminal(events);
  const ok = check(res, {
    'status 200': (r) => r.status === 200,
    'job id header': (r) => !!r.headers['X-Athena-Job'],
    'ends with a verdict': () => !!last && last.type === 'verdict',
    'verdict is of the whole file': () => !!last && !!last.verdict && last.verdict.size === f.size,
    'EICAR is malicious': () => !f.eicar || (!!last && !!last.verdict && last.verdict.label === 'malicious'),
    'HTTP/2 over TLS': (r) => !BASE.startsWith('https:') || r.proto === 'HTTP/2.0',
  });
  verdicts.add(ok && !!last && last.type === 'verdict');
  timeToVerdict.add(res.timings.duration);
  uploadBytes.add(f.size);
}
