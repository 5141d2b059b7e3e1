// Shared by Athena's k6 scripts: the target, the file set, Zipf picks and
// the NDJSON event stream. See README.md for the environment variables.
import crypto from 'k6/crypto';

// BASE is the gateway's URL (http:// or https://), WS_BASE its WebSocket URL.
export const BASE = (__ENV.ATHENA_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const WS_BASE = BASE.replace(/^http/, 'ws');

// loadFiles reads the file set in the init context: every VU holds its own
// copy, so keep the set to tens of MiB. Either MANIFEST (the JSON that
// `athena bench --generate-only` prints) with CORPUS (its --corpus-dir), or
// FILES, a comma-separated list of paths. Use absolute paths: k6 resolves
// relative ones against the script's directory.
export function loadFiles() {
  let list;
  if (__ENV.MANIFEST) {
    const dir = (__ENV.CORPUS || '.').replace(/\/+$/, '');
    list = JSON.parse(open(__ENV.MANIFEST)).files.map((f) => ({
      name: f.name, path: `${dir}/${f.name}`, sha256: f.sha256,
      eicar: (f.markers || []).some((m) => m.name === 'eicar' && !m.member),
    }));
  } else if (__ENV.FILES) {
    list = __ENV.FILES.split(',').filter((p) => p).map((p) => ({ name: p.split('/').pop(), path: p }));
  } else {
    throw new Error('set MANIFEST and CORPUS, or FILES (see k6/README.md)');
  }
  return list.map((f) => {
    const data = open(f.path, 'b');
    return Object.assign(f, { data, size: data.byteLength, sha256: f.sha256 || crypto.sha256(data, 'hex') });
  });
}

// zipfPicker returns a function that picks an index in [0, n) with
// probability proportional to 1/(rank+1)^s: rank 0 is the most popular.
export function zipfPicker(n, s) {
  const cdf = new Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / Math.pow(k + 1, s);
    cdf[k] = sum;
  }
  return () => {
    const u = Math.random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1; else hi = mid;
    }
    return lo;
  };
}

// parseEvents decodes an NDJSON body into events, skipping blank lines.
export function parseEvents(body) {
  if (!body) return [];
  return body.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

// terminal returns the job's last event when it is a verdict or an error.
export function terminal(events) {
  const last = events[events.length - 1];
  return last && (last.type === 'verdict' || last.type === 'error') ? last : null;
}
