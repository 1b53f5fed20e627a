'use strict';
// Per-event time of the Lambda@Edge viewer-request handler: the Wasm package vs an
// idiomatic plain-JS handler (baseline-handler.js) vs the native Rust core; cold start
// (fresh `node`: load + first event) Wasm vs JS; `.wasm` and zip sizes.
//
//   make bench            (builds what it needs, then runs this)
//   node bench/edge-handler.js [--pkg DIR] [--native BIN] [--zip FILE]
//
// Prints a table and writes bench/results/edge-handler.json. Every ratio is against a
// baseline run in the same process, interleaved round by round: these machines are noisy.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const PKG = path.resolve(arg('--pkg', path.join(ROOT, 'wasm-pkg')));
const NATIVE = arg('--native', path.join(ROOT, 'target', 'release', 'native-viewer-request'));
const ZIP = arg('--zip', path.join(ROOT, 'dist', 'edge-worker-lambda.zip'));
const BASELINE = path.join(__dirname, 'baseline-handler.js');

// A deterministic corpus of realistic viewer requests: tracking parameters, shuffled
// parameters, percent-encoding variants, the usual browser headers, some cookies.
function corpus(n) {
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const events = [];
  for (let i = 0; i < n; i++) {
    const id = Math.floor(rand() * 10000);
    const uri = pick([`/api/products/${id}`, '/api/products', `/static/app.${id % 50}.js`, '/api/config', `/api/users/${id % 100}`,
      `//api/products/${id}/`, `/api/%70roducts/${id}`, '/docs/getting-started', '/']);
    const params = [];
    if (rand() < 0.6) params.push(pick(['category=books', 'category=garden', 'category=toys%2Dkids']));
    if (rand() < 0.5) params.push(`page=${1 + (id % 5)}`);
    if (rand() < 0.3) params.push('sort=price', 'per_page=20');
    if (rand() < 0.4) params.push('utm_source=newsletter', 'utm_medium=email', 'utm_campaign=spring%5fsale');
    if (rand() < 0.2) params.push(`gclid=${id}abc`, `fbclid=IwAR${id}`);
    for (let j = params.length - 1; j > 0; j--) {
      const k = Math.floor(rand() * (j + 1));
      [params[j], params[k]] = [params[k], params[j]];
    }
    const headers = {
      host: [{ key: 'Host', value: 'd111111abcdef8.cloudfront.net' }],
      'user-agent': [{ key: 'User-Agent', value: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36' }],
      accept: [{ key: 'Accept', value: 'application/json, text/plain, */*' }],
      'accept-encoding': [{ key: 'Accept-Encoding', value: pick(['gzip, deflate, br, zstd', 'gzip', 'br;q=1.0, gzip;q=0.8, *;q=0.1', 'identity']) }],
      'accept-language': [{ key: 'Accept-Language', value: 'en-US,en;q=0.9' }],
      referer: [{ key: 'Referer', value: 'https://www.example.com/' }],
      'sec-fetch-mode': [{ key: 'Sec-Fetch-Mode', value: 'cors' }],
      'x-forwarded-for': [{ key: 'X-Forwarded-For', value: '203.0.113.178' }],
    };
    if (rand() < 0.3) headers.cookie = [{ key: 'Cookie', value: '_ga=GA1.1.123; session=abc123; theme=dark' }];
    if (rand() < 0.05) headers['x-forwarded-host'] = [{ key: 'X-Forwarded-Host', value: 'evil.example' }];
    events.push({ Records: [{ cf: { config: { distributionDomainName: 'd111111abcdef8.cloudfront.net',
      distributionId: 'EDFDVBD6EXAMPLE', eventType: 'viewer-request', requestId: `r${i}` },
    request: { clientIp: '203.0.113.178', method: 'GET', uri, querystring: params.join('&'), headers } } }] });
  }
  return events;
}

async function timeBatch(handler, batch) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < batch.length; i++) await handler(batch[i], {});
  return Number(process.hrtime.bigint() - start) / batch.length;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function coldStart(modulePath, event, runs) {
  const script = `const t0 = process.hrtime.bigint();
const h = require(${JSON.stringify(modulePath)}).handler;
h(${JSON.stringify(event)}, {}).then(() => process.stdout.write(String(Number(process.hrtime.bigint() - t0) / 1e6)));`;
  const inProcess = [];
  const wall = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    inProcess.push(Number(execFileSync(process.execPath, ['-e', script]).toString()));
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { load_and_first_event_ms: median(inProcess), process_wall_ms: median(wall) };
}

async function main() {
  const wasm = require(path.join(PKG, 'index.js')).handler;
  const js = require(BASELINE).handler;
  const events = corpus(512);

  // Fairness check: both handlers must produce the same requests.
  let mismatches = 0;
  for (const e of events) {
    const a = await wasm(structuredClone(e), {});
    const b = await js(structuredClone(e), {});
    if (JSON.stringify([a.uri, a.querystring, a.headers]) !== JSON.stringify([b.uri, b.querystring, b.headers])) mismatches++;
  }

  const rounds = 15;
  const wasmNs = [];
  const jsNs = [];
  for (let r = 0; r < rounds; r++) {
    // Fresh copies every round (the handlers rewrite in place), made outside the timing.
    const a = events.map((e) => structuredClone(e));
    const b = events.map((e) => structuredClone(e));
    if (r % 2 === 0) {
      wasmNs.push(await timeBatch(wasm, a));
      jsNs.push(await timeBatch(js, b));
    } else {
      jsNs.push(await timeBatch(js, b));
      wasmNs.push(await timeBatch(wasm, a));
    }
  }
  // Drop the first (warm-up) round.
  const wasmMedian = median(wasmNs.slice(1));
  const jsMedian = median(jsNs.slice(1));

  let nativeNs = null;
  if (fs.existsSync(NATIVE)) {
    const file = path.join(os.tmpdir(), `edge-corpus-${process.pid}.jsonl`);
    fs.writeFileSync(file, events.map((e) => {
      const r = e.Records[0].cf.request;
      const headers = Object.entries(r.headers).flatMap(([n, vs]) => vs.map((v) => [n, v.value]));
      return JSON.stringify({ method: r.method, uri: r.uri, querystring: r.querystring, headers });
    }).join('\n'));
    const out = execFileSync(NATIVE, [file, '15']).toString();
    nativeNs = Number(/ns_per_event=([0-9.]+)/.exec(out)[1]);
    fs.unlinkSync(file);
  }

  const first = events[0];
  const coldWasm = coldStart(path.join(PKG, 'index.js'), first, 11);
  const coldJs = coldStart(BASELINE, first, 11);

  const wasmFile = fs.readFileSync(path.join(PKG, 'pkg', 'edge_worker_bg.wasm'));
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    events: events.length,
    handler_agreement_mismatches: mismatches,
    per_event_ns: { wasm: Math.round(wasmMedian), js_baseline: Math.round(jsMedian), native_rust: nativeNs },
    ratio_wasm_over_js: +(wasmMedian / jsMedian).toFixed(3),
    ratio_native_over_wasm: nativeNs ? +(nativeNs / wasmMedian).toFixed(3) : null,
    cold_start: { wasm: coldWasm, js_baseline: coldJs,
      ratio_wasm_over_js: +(coldWasm.load_and_first_event_ms / coldJs.load_and_first_event_ms).toFixed(2) },
    wasm_bytes: wasmFile.length,
    wasm_gzip_bytes: zlib.gzipSync(wasmFile, { level: 9 }).length,
    zip_bytes: fs.existsSync(ZIP) ? fs.statSync(ZIP).size : null,
  };

  const line = (k, v) => console.log(`${k.padEnd(40)} ${v}`);
  line('handlers agree on all events', mismatches === 0 ? 'yes' : `NO (${mismatches} differ)`);
  line('viewer-request, Wasm handler (ns/event)', results.per_event_ns.wasm);
  line('viewer-request, plain-JS handler', results.per_event_ns.js_baseline);
  line('viewer-request, native Rust core', nativeNs ?? 'not built');
  line('ratio Wasm / JS (goal <= 0.5)', results.ratio_wasm_over_js);
  line('cold start Wasm: load + first event (ms)', coldWasm.load_and_first_event_ms.toFixed(2));
  line('cold start JS: load + first event (ms)', coldJs.load_and_first_event_ms.toFixed(2));
  line('cold start ratio Wasm / JS', results.cold_start.ratio_wasm_over_js);
  line('.wasm raw / gzip (bytes, goal gzip <= 65536)', `${results.wasm_bytes} / ${results.wasm_gzip_bytes}`);
  line('deployment zip (bytes, limit 1 MB)', results.zip_bytes ?? 'not built');

  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'edge-handler.json'), JSON.stringify(results, null, 2) + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
