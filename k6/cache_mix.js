// A cache-heavy mix: files picked by a Zipf(ZIPF_S) popularity, uploaded to
// POST /v1/analyze with their sha256 declared, so a known file is answered
// from the verdict cache; alongside, verdict lookups (GET
// /v1/verdicts/{sha256}) at a constant LOOKUP_RATE per second.
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { BASE, loadFiles, parseEvents, terminal, zipfPicker } from './lib.js';

const files = loadFiles();
const pick = zipfPicker(files.length, Number(__ENV.ZIPF_S || 1.1));
const cacheHits = new Rate('athena_cache_hits');
const lookupsFound = new Rate('athena_lookups_found');

export const options = {
  scenarios: {
    uploads: {
      executor: 'constant-vus',
      exec: 'upload',
      vus: Number(__ENV.VUS || 8),
      duration: __ENV.DURATION || '2m',
    },
    lookups: {
      // k6 computes a counter's rate over the whole run, so the lookups run
      // as long as the uploads: early ones miss (404) while the uploads
      // warm the cache, and count for latency and rate all the same.
      executor: 'constant-arrival-rate',
      exec: 'lookup',
      rate: Number(__ENV.LOOKUP_RATE || 1200),
      timeUnit: '1s',
      duration: __ENV.DURATION || '2m',
      preAllocatedVUs: Number(__ENV.LOOKUP_VUS || 100),
      maxVUs: Number(__ENV.LOOKUP_MAX_VUS || 400),
    },
  },
  thresholds: {
    // Product targets: verdict lookups p95 under 200 ms at over 1,000
    // requests/s; over 80% of the Zipf mix answered from the cache.
    'http_req_duration{name:verdict_lookup}': ['p(95)<200'],
    'http_reqs{name:verdict_lookup}': ['rate>1000'],
    'athena_cache_hits': ['rate>0.8'],
    'checks': ['rate>0.99'],
  },
  insecureSkipTLSVerify: __ENV.INSECURE === '1',
};

export function upload() {
  const f = files[pick()];
  const res = http.post(`${BASE}/v1/analyze?name=${encodeURIComponent(f.name)}`, f.data, {
    headers: { 'Content-Type': 'application/octet-stream', 'X-Athena-SHA256': f.sha256 },
    tags: { name: 'analyze_declared' },
    timeout: __ENV.TIMEOUT || '10m',
  });
  let last = null;
  try {
    last = terminal(parseEvents(res.body));
  } catch (e) {
    last = null;
  }
  check(res, {
    'status 200': (r) => r.status === 200,
    'ends with a verdict': () => !!last && last.type === 'verdict',
    'verdict of the declared file': () => !!last && !!last.verdict && last.verdict.sha256 === f.sha256,
  });
  cacheHits.add(res.headers['X-Athena-Cached'] === 'true');
}

export function lookup() {
  const f = files[pick()];
  const res = http.get(`${BASE}/v1/verdicts/${f.sha256}`, {
    headers: { 'Accept-Encoding': 'br, gzip' },
    tags: { name: 'verdict_lookup' },
  });
  check(res, { 'lookup 200 or 404': (r) => r.status === 200 || r.status === 404 });
  lookupsFound.add(res.status === 200); // reported, not a threshold: the cache warms during the run
}
