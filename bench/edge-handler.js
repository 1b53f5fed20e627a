'use strict';
// Per-event time of the Lambda@Edge viewer-request handler: the Wasm package vs an
// idiomatic plain-JS handler (baseline-handler.js) vs the native Rust core; cold start
// (fresh `node`: load + first event) Wasm vs JS; `.wasm` and zip sizes.
//
//   make bench            (builds what it needs, then runs this)
//   node bench/edge-handler.js [--pkg DIR] [--native BIN] [--zip FILE] [--baseline FILE]
//
// Prints a table and writes bench/results/edge-handler.json. Every ratio is against a
// baseline run in the same process, interleaved round by round: these machines are noisy.
// Before timing anything, the three must answer every event of the corpora alike (the Wasm
// and the plain-JS handler the same request, the Wasm and the native core the same answer);
// when they don't, it names the events and exits 1: a faster handler that answers
// differently measures nothing.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { execFileSync, spawn } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const PKG = path.resolve(arg('--pkg', path.join(ROOT, 'wasm-pkg')));
const NATIVE = arg('--native', path.join(ROOT, 'target', 'release', 'native-viewer-request'));
const ZIP = arg('--zip', path.join(ROOT, 'dist', 'edge-worker-lambda.zip'));
const BASELINE = path.resolve(arg('--baseline', path.join(__dirname, 'baseline-handler.js')));

// A deterministic pseudo-random source for the corpora: `rand` in [0, 1], `pick` one of `xs`.
function seeded(seed) {
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  return { rand, pick: (xs) => xs[Math.floor(rand() * xs.length)] };
}

// A deterministic corpus of realistic viewer requests: tracking parameters, shuffled
// parameters, percent-encoding variants, the usual browser headers, some cookies.
function corpus(n) {
  const { rand, pick } = seeded(42);
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

// A corpus of short, simple requests: few headers, short URLs, mostly already canonical
// (the case where a plain JS handler is cheapest).
function simpleCorpus(n) {
  const { rand, pick } = seeded(7);
  const events = [];
  for (let i = 0; i < n; i++) {
    const id = Math.floor(rand() * 1000);
    const uri = pick([`/api/products/${id}`, '/api/products', `/static/app.${id % 20}.js`, '/api/config', `/api/users/${id % 50}`, '/']);
    const querystring = pick(['', '', '', 'page=2', `category=books&page=${1 + (id % 3)}`, 'page=1&utm_source=x']);
    const headers = {
      host: [{ key: 'Host', value: 'd111111abcdef8.cloudfront.net' }],
      'accept-encoding': [{ key: 'Accept-Encoding', value: pick(['br,gzip', 'br,gzip', 'gzip', 'gzip, deflate, br']) }],
    };
    if (rand() < 0.5) headers.accept = [{ key: 'Accept', value: '*/*' }];
    events.push({ Records: [{ cf: { config: { eventType: 'viewer-request', requestId: `s${i}` },
      request: { clientIp: '203.0.113.7', method: 'GET', uri, querystring, headers } } }] });
  }
  return events;
}

// Requests on the fail-closed rules (cache-key.md): checked for agreement, not timed.
function edgeCases() {
  const headers = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, [{ key: k, value: v }]]));
  return [
    ['/api/users%2F1', 'a=1', { cookie: 's=1' }], ['/API/Users/7', '', { cookie: 's=1' }], ['/api;x/users/1', '', { cookie: 's=1' }],
    ['/api/me.json', '', { cookie: 's=1' }], ['/api/meow', '', { cookie: 's=1' }], ['/static/..%2Fapi/me', '', { cookie: 's=1' }],
    ['/api/products/1', '', { 'x-viewer-authorization': 'Bearer x', cookie: 's=1' }],
    ['/api/products/1', '', { authorization: 'Bearer x', cookie: 's=1', 'x-viewer-authorization': 'spoof' }],
    ['/a\0b', 'q=\0', { 'x-nul': 'a\0' }], ['/a', 'x=%zz&y=%4', {}], ['/a%zz', '', {}],
    ['/a', '', { 'accept-encoding': 'gzip;q=0, br' }], ['/a', '', { 'accept-encoding': 'br;q=0.001,gzip;q=1.000' }],
    ['/a', '', { 'accept-encoding': 'gzip;q' }], ['/a', '', { 'accept-encoding': '*;q=0' }], ['/a', '', { 'accept-encoding': 'GZIP;Q=0.5' }],
    ['/caf\u00e9', 'q=\u{1F600}', { 'user-agent': 'x\ud800' }],
  ].map(([uri, querystring, h]) => ({ Records: [{ cf: { config: { eventType: 'viewer-request' },
    request: { clientIp: '203.0.113.7', method: 'GET', uri, querystring, headers: headers(h) } } }] }));
}

async function timeBatch(handler, batch) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < batch.length; i++) await handler(batch[i], {});
  return Number(process.hrtime.bigint() - start) / batch.length;
}

// Rounds per corpus (per-event figures) and fresh processes per handler and event (cold start).
const ROUNDS = 41;
const COLD_RUNS = 21;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Load + first event in a fresh `node`, Wasm and JS interleaved run by run. The clock is
// read before `process.stdout` is touched: its getter builds the stream (~5 ms), and written
// as `process.stdout.write(String(now - t0))` it runs before its argument is evaluated, so
// until 2026-11-29 every figure here held ~5 ms of stdout set-up (a Lambda runtime has it
// set up before it loads the handler), which flattered the ratio (1.8 then, ~2.8 without).
function coldStart(modules, event, runs) {
  const script = (m) => `const t0 = process.hrtime.bigint();
const h = require(${JSON.stringify(m)}).handler;
h(${JSON.stringify(event)}, {}).then(() => {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(String(ms));
});`;
  const out = Object.fromEntries(Object.keys(modules).map((k) => [k, { inProcess: [], wall: [] }]));
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? Object.keys(modules) : Object.keys(modules).reverse();
    for (const k of order) {
      const t0 = process.hrtime.bigint();
      out[k].inProcess.push(Number(execFileSync(process.execPath, ['-e', script(modules[k])]).toString()));
      out[k].wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k,
    { load_and_first_event_ms: +median(v.inProcess).toFixed(3), process_wall_ms: +median(v.wall).toFixed(3) }]));
}

// Where the Wasm cold start goes, in fresh `node`s (median of `runs` each). The
// viewer-request module's parts in one process: reading the .wasm, compiling it (V8 compiles lazily: this is decoding
// and setting up), instantiating it. The glue in another, in the order a cold Lambda runs it:
// its whole `require` (the parts above included), then the first core call alone (V8
// compiling, with Liftoff, every function the event touches), then the handler on the same
// event (the glue's own first run). Compiling twice in one process would time V8's module
// cache the second time, hence two processes.
function coldBreakdown(pkg, event, runs) {
  const parts = `const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;
let t = process.hrtime.bigint();
const bytes = require('fs').readFileSync(${JSON.stringify(path.join(pkg, 'pkg', 'viewer_request.wasm'))});
const read = ms(t); t = process.hrtime.bigint();
const m = new WebAssembly.Module(bytes);
const compile = ms(t); t = process.hrtime.bigint();
const i = new WebAssembly.Instance(m, {});
const instantiate = ms(t);
process.stdout.write(JSON.stringify({ read, compile, instantiate }));`;
  const glue = `const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;
let t = process.hrtime.bigint();
const glue = require(${JSON.stringify(path.join(pkg, 'index.js'))});
const require_ = ms(t);
const core = glue._internals.core();
const [input, count] = core.encodeViewerRequest(${JSON.stringify(event.Records[0].cf.request)});
t = process.hrtime.bigint();
core.callViewerRequest(input, count);
const firstCall = ms(t); t = process.hrtime.bigint();
glue.handler(${JSON.stringify(event)}, {}).then(() => {
  const handler = ms(t);
  process.stdout.write(JSON.stringify({ require_, firstCall, handler }));
});`;
  const rows = [];
  for (let r = 0; r < runs; r++) {
    rows.push({ ...JSON.parse(execFileSync(process.execPath, ['-e', parts]).toString()),
      ...JSON.parse(execFileSync(process.execPath, ['-e', glue]).toString()) });
  }
  const m = (k) => +median(rows.map((x) => x[k])).toFixed(3);
  return { read_wasm_ms: m('read'), compile_ms: m('compile'), instantiate_ms: m('instantiate'),
    glue_require_whole_ms: m('require_'), first_core_call_ms: m('firstCall'), then_handler_ms: m('handler') };
}

// The native core as a child process timing one round per request (native-viewer-request
// --serve), so that its rounds interleave with the Wasm core's: a native figure taken
// minutes apart from the Wasm one measured the machine's mood as much as the code
// (0.48 vs 1.03 us/event for the same corpus in two runs). It runs the Wasm core's own entry
// point compiled natively (decode, policy, encode) on the exact bytes the glue wrote for the
// Wasm core (`inputs`): the same work. `null` when the binary is not built.
function nativeServer(inputs) {
  if (!fs.existsSync(NATIVE)) return null;
  const file = writeInputs(inputs);
  const child = spawn(NATIVE, [file, '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = [];
  let buffered = '';
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      waiting.shift()(Number(buffered.slice(0, nl)));
      buffered = buffered.slice(nl + 1);
    }
  });
  return {
    round: (passes) => new Promise((resolve) => {
      waiting.push(resolve);
      child.stdin.write(`${passes}\n`);
    }),
    close: () => {
      child.stdin.end();
      fs.unlinkSync(file);
    },
  };
}

// The inputs as native-viewer-request reads them, one event per line: `count hex`.
function writeInputs(inputs) {
  const file = path.join(os.tmpdir(), `edge-inputs-${process.pid}-${inputs.length}.txt`);
  fs.writeFileSync(file, inputs.map(([bytes, count]) => `${count} ${Buffer.from(bytes).toString('hex')}`).join('\n'));
  return file;
}

// The native core's answer to each input (native-viewer-request --answers); `null` when the
// binary is not built.
function nativeAnswers(inputs) {
  if (!fs.existsSync(NATIVE)) return null;
  const file = writeInputs(inputs);
  try {
    const out = execFileSync(NATIVE, [file, '--answers'], { maxBuffer: 256 * 1024 * 1024 }).toString();
    return out.split('\n').slice(0, inputs.length).map((hex) => Buffer.from(hex, 'hex').toString('utf8'));
  } finally {
    fs.unlinkSync(file);
  }
}

const same = (a, b) => JSON.stringify([a.uri, a.querystring, a.headers]) === JSON.stringify([b.uri, b.querystring, b.headers]);

// Per-event time of both handlers on one corpus, interleaved round by round; then the Wasm
// core call alone (the encoded input copied into memory and the call) against the native
// core on the same requests, also interleaved round by round, in a loop of its own: the
// handler rounds leave garbage (fresh event copies every round) whose collection must not
// land in the core's timing, and the core call allocates nothing on the JavaScript side.
// Each core round is CORE_PASSES timed passes after one untimed one, on both sides: the
// process that waited while the other ran starts with cold caches.
const CORE_PASSES = 6;
async function perEvent(wasm, js, core, events, rounds) {
  const wasmNs = [];
  const jsNs = [];
  const coreNs = [];
  const nativeNs = [];
  const inputs = events.map((e) => core.encodeViewerRequest(e.Records[0].cf.request));
  const native = nativeServer(inputs);
  const timeCore = () => {
    for (let i = 0; i < inputs.length; i++) core.callViewerRequest(inputs[i][0], inputs[i][1]);
    const start = process.hrtime.bigint();
    for (let p = 0; p < CORE_PASSES; p++) {
      for (let i = 0; i < inputs.length; i++) core.callViewerRequest(inputs[i][0], inputs[i][1]);
    }
    coreNs.push(Number(process.hrtime.bigint() - start) / (CORE_PASSES * inputs.length));
  };
  const timeNative = async () => {
    if (native) nativeNs.push(await native.round(CORE_PASSES));
  };
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
  if (global.gc) global.gc();
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      timeCore();
      await timeNative();
    } else {
      await timeNative();
      timeCore();
    }
  }
  if (native) native.close();
  // Drop the first (warm-up) round.
  const w = median(wasmNs.slice(1));
  const j = median(jsNs.slice(1));
  const c = median(coreNs.slice(1));
  const n = native ? median(nativeNs.slice(1)) : null;
  // The ratios are the medians of the rounds' own ratios (the goals' figures): each round's
  // pair ran back to back, so a slow stretch of the machine moves both sides of it, where
  // the medians of each side can come from different stretches. The ratio of the medians
  // is kept beside them.
  const pairs = (xs, ys) => +median(xs.slice(1).map((x, i) => x / ys[i + 1])).toFixed(3);
  return {
    events: events.length,
    per_event_ns: { wasm_handler: Math.round(w), js_baseline: Math.round(j), wasm_core_call: Math.round(c), native_rust: n },
    ratio_wasm_over_js: pairs(wasmNs, jsNs),
    ratio_wasm_core_over_native: n ? pairs(coreNs, nativeNs) : null,
    ratio_of_medians: { wasm_over_js: +(w / j).toFixed(3), wasm_core_over_native: n ? +(c / n).toFixed(3) : null },
  };
}

// What differs between two requests CloudFront would go on with, field by field.
function requestDiff(a, b) {
  const show = (v) => (v === undefined ? 'absent' : JSON.stringify(v));
  const out = [];
  for (const k of ['uri', 'querystring']) {
    if (a[k] !== b[k]) out.push(`${k} ${show(a[k])} / ${show(b[k])}`);
  }
  const [ha, hb] = [a.headers || {}, b.headers || {}];
  for (const name of new Set([...Object.keys(ha), ...Object.keys(hb)])) {
    if (JSON.stringify(ha[name]) !== JSON.stringify(hb[name])) out.push(`${name} ${show(ha[name])} / ${show(hb[name])}`);
  }
  return out.length > 0 ? out.join('; ') : 'the same headers in another order';
}

// Every event of both corpora and the fail-closed cases through all three, untimed: the
// request the Wasm handler and the plain-JS handler go on with, and the answer the Wasm core
// and the native core give on the same input bytes. Returns the disagreements
// (`{ event, sides, what }`) and whether the native core was there to ask.
async function disagreements(wasm, js, core, named) {
  const found = [];
  const quiet = console.log;
  console.log = () => {};
  try {
    for (const [label, e] of named) {
      const [w, j] = [await wasm(structuredClone(e), {}), await js(structuredClone(e), {})];
      if (!same(w, j)) found.push({ event: label, sides: 'Wasm handler / plain-JS handler', what: requestDiff(w, j) });
    }
  } finally {
    console.log = quiet;
  }
  const requests = named.map(([, e]) => e.Records[0].cf.request);
  const native = nativeAnswers(requests.map((r) => core.encodeViewerRequest(r)));
  if (native) {
    requests.forEach((r, i) => {
      const answer = core.viewer_request(r);
      if (answer !== native[i]) {
        found.push({ event: named[i][0], sides: 'Wasm core / native core',
          what: `answer ${JSON.stringify(answer)} / ${JSON.stringify(native[i])}` });
      }
    });
  }
  return { found, nativeChecked: native !== null };
}

async function main() {
  const lambda = require(path.join(PKG, 'index.js'));
  const wasm = lambda.handler;
  const js = require(BASELINE).handler;
  const corpora = { realistic: corpus(512), simple: simpleCorpus(512) };

  const named = [...Object.entries(corpora).flatMap(([name, events]) => events.map((e, i) => [`${name} #${i}`, e])),
    ...edgeCases().map((e, i) => [`fail-closed #${i}`, e])];
  const agreement = await disagreements(wasm, js, lambda._internals.core(), named);
  if (agreement.found.length > 0) {
    const events = new Set(agreement.found.map((d) => d.event)).size;
    console.error(`bench/edge-handler.js: the handlers disagree on ${events} of ${named.length} events; nothing timed.`);
    for (const d of agreement.found.slice(0, 10)) console.error(`  ${d.event}, ${d.sides}: ${d.what}`);
    if (agreement.found.length > 10) console.error(`  … and ${agreement.found.length - 10} more`);
    process.exit(1);
  }
  if (!agreement.nativeChecked) console.log(`native core not built (${NATIVE}): Wasm / native agreement not checked`);

  const results = {
    date: new Date().toISOString(),
    node: process.version,
    machine: `${os.cpus()[0].model}, ${os.cpus().length} cores, ${os.platform()} ${os.release()}`,
    handler_agreement_mismatches: 0,
    core_native_agreement_mismatches: agreement.nativeChecked ? 0 : null,
    corpora: {},
  };
  for (const [name, events] of Object.entries(corpora)) {
    results.corpora[name] = await perEvent(wasm, js, lambda._internals.core(), events, ROUNDS);
  }

  // Cold start on each corpus's first event: the goal's figure is the realistic one; the
  // simple one is the case where a plain JS handler's first event is cheapest.
  results.cold_start = { runs: COLD_RUNS };
  for (const [name, events] of Object.entries(corpora)) {
    const cold = coldStart({ wasm: path.join(PKG, 'index.js'), js_baseline: BASELINE }, events[0], COLD_RUNS);
    results.cold_start[name] = { ...cold,
      ratio_wasm_over_js: +(cold.wasm.load_and_first_event_ms / cold.js_baseline.load_and_first_event_ms).toFixed(2) };
  }
  results.cold_start.wasm_breakdown = coldBreakdown(PKG, corpora.realistic[0], 11);

  // One module per trigger (Makefile `wasm`); the viewer-request one is what every cold start loads.
  results.wasm_bytes = {};
  results.wasm_gzip_bytes = {};
  for (const trigger of ['viewer_request', 'origin_response']) {
    const wasmFile = fs.readFileSync(path.join(PKG, 'pkg', `${trigger}.wasm`));
    results.wasm_bytes[trigger] = wasmFile.length;
    results.wasm_gzip_bytes[trigger] = zlib.gzipSync(wasmFile, { level: 9 }).length;
  }
  results.zip_bytes = fs.existsSync(ZIP) ? fs.statSync(ZIP).size : null;

  const line = (k, v) => console.log(`${k.padEnd(58)} ${v}`);
  line(`Wasm, JS${agreement.nativeChecked ? ', native' : ''} agree on every event`, `yes (${named.length} events)`);
  for (const [name, c] of Object.entries(results.corpora)) {
    line(`${name}: Wasm handler / JS handler (ns/event)`, `${c.per_event_ns.wasm_handler} / ${c.per_event_ns.js_baseline}`);
    line(`${name}: ratio Wasm / JS, median of rounds (goal <= 0.5)`, c.ratio_wasm_over_js);
    line(`${name}: Wasm core call / native core (ns)`, `${c.per_event_ns.wasm_core_call} / ${c.per_event_ns.native_rust ?? 'not built'}`);
    line(`${name}: ratio core / native, median of rounds (goal <= 3)`, c.ratio_wasm_core_over_native);
    line(`${name}: ratio of medians, Wasm/JS and core/native`,
      `${c.ratio_of_medians.wasm_over_js} / ${c.ratio_of_medians.wasm_core_over_native}`);
  }
  for (const name of Object.keys(corpora)) {
    const c = results.cold_start[name];
    line(`cold start, ${name} event: Wasm / JS (ms)`, `${c.wasm.load_and_first_event_ms} / ${c.js_baseline.load_and_first_event_ms}`);
    line(`cold start, ${name} event: ratio${name === 'realistic' ? ' (goal <= 2)' : ''}`, c.ratio_wasm_over_js);
  }
  line('cold start Wasm breakdown (ms)', JSON.stringify(results.cold_start.wasm_breakdown));
  for (const trigger of Object.keys(results.wasm_bytes)) {
    line(`${trigger}.wasm raw / gzip (bytes, goal gzip <= 65536)`, `${results.wasm_bytes[trigger]} / ${results.wasm_gzip_bytes[trigger]}`);
  }
  line('deployment zip (bytes, limit 1 MB)', results.zip_bytes ?? 'not built');

  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'edge-handler.json'), JSON.stringify(results, null, 2) + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
