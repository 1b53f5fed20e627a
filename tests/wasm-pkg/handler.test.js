'use strict';
// Replays AWS-format events through the *built* Lambda@Edge package, loaded the way
// Lambda@Edge loads it: `require(<package dir>/index.js).handler`. EDGE_PKG_DIR points at
// the unzipped deployment zip (make test); it defaults to wasm-pkg/.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');

const ROOT = path.resolve(__dirname, '..', '..');
const PKG = path.resolve(process.env.EDGE_PKG_DIR || path.join(ROOT, 'wasm-pkg'));
const lambda = require(path.join(PKG, 'index.js'));
const FIXTURES = path.join(ROOT, 'tests', 'fixtures');
const readJson = (p) => JSON.parse(fs.readFileSync(path.join(FIXTURES, p), 'utf8'));

const config = (eventType) => ({
  distributionDomainName: 'd111111abcdef8.cloudfront.net',
  distributionId: 'EDFDVBD6EXAMPLE',
  eventType,
  requestId: '4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==',
});
const headers = (compact) =>
  Object.fromEntries(Object.entries(compact).map(([n, vs]) => [n, vs.map((value) => ({ key: n, value }))]));
const compact = (hs) => Object.fromEntries(Object.entries(hs).map(([n, vs]) => [n, vs.map((v) => v.value)]));
const viewerRequestEvent = (r) => ({
  Records: [{ cf: { config: config('viewer-request'), request: {
    clientIp: '203.0.113.178', method: r.method, uri: r.uri, querystring: r.querystring, headers: headers(r.headers),
  } } }],
});
const originResponseEvent = (req, res) => ({
  Records: [{ cf: { config: config('origin-response'),
    request: { clientIp: '203.0.113.178', method: req.method, uri: req.uri, querystring: '', headers: headers(req.headers) },
    response: { status: res.status, statusDescription: 'OK', headers: headers(res.headers) } } }],
});

// Captures console.log lines while `fn` runs.
async function logsOf(fn) {
  const lines = [];
  const original = console.log;
  console.log = (line) => lines.push(line);
  try {
    return { result: await fn(), lines };
  } finally {
    console.log = original;
  }
}

test("the glue's read lists are the shipped cores' own (edge_reads), name for name", () => {
  // Each trigger's module answers for the lists its trigger reads.
  for (const [trigger, which, name] of [['viewerRequest', 0, 'viewerRequest'], ['originResponse', 1, 'originResponse'],
    ['originResponse', 2, 'originResponseRequest']]) {
    const exports = lambda._internals.exports(trigger);
    const reads = lambda._internals.reads;
    const core = Buffer.from(exports.memory.buffer, exports.edge_reads_at(which), exports.edge_reads(which))
      .toString('latin1').split(',');
    assert.deepEqual(Object.keys(reads[name]).sort(), [...core].sort(), name);
    assert.equal(Object.getPrototypeOf(reads[name]), null, `${name} is prototype-less`);
  }
});

test('one module per trigger: each exports its own entry point only, was initialised at build time, imports nothing', () => {
  const exportsOf = (file) => WebAssembly.Module.exports(new WebAssembly.Module(fs.readFileSync(path.join(PKG, 'pkg', file))))
    .map((e) => e.name);
  for (const [file, own, other] of [['viewer_request.wasm', 'edge_viewer_request', 'edge_origin_response'],
    ['origin_response.wasm', 'edge_origin_response', 'edge_viewer_request']]) {
    const names = exportsOf(file);
    assert.ok(names.includes(own), `${file} exports ${own}`);
    assert.ok(!names.includes(other), `${file} holds no ${other}`);
    assert.ok(!names.includes('edge_init'), `${file}'s rule set was built at build time (wasm-ctor-eval)`);
    assert.deepEqual(WebAssembly.Module.imports(new WebAssembly.Module(fs.readFileSync(path.join(PKG, 'pkg', file)))), []);
  }
});

test('viewer-request: every cache-key.md example (golden cases shared with the Rust tests)', async (t) => {
  for (const c of readJson('golden/viewer-request.json')) {
    await t.test(c.name, async () => {
      const event = viewerRequestEvent(c.request);
      const before = structuredClone(event.Records[0].cf.request);
      const out = await lambda.handler(event, {});
      if (c.expect.unchanged) {
        assert.deepEqual(out, before);
        return;
      }
      assert.equal(out.uri, c.expect.uri);
      assert.equal(out.querystring, c.expect.querystring);
      assert.deepEqual(compact(out.headers), c.expect.headers);
      assert.equal(out.clientIp, before.clientIp);
      assert.equal(out.method, before.method);
    });
  }
});

test('origin-response: every cache-control.md example, exactly one Cache-Control', async (t) => {
  for (const c of readJson('golden/origin-response.json')) {
    await t.test(c.name, async () => {
      const out = await lambda.handler(originResponseEvent(c.request, c.response), {});
      assert.deepEqual(out.headers['cache-control'], [{ key: 'Cache-Control', value: c.expect.cache_control }]);
      const had = 'set-cookie' in c.response.headers;
      assert.equal('set-cookie' in out.headers, had && !c.expect.set_cookie_removed);
      if ('cdn_removed' in c.expect) assert.equal('cdn-cache-control' in out.headers, !c.expect.cdn_removed);
      assert.equal(out.status, c.response.status);
    });
  }
});

test('origin-response is idempotent on its own output', async () => {
  for (const c of readJson('golden/origin-response.json')) {
    const event = originResponseEvent(c.request, c.response);
    const once = structuredClone(await lambda.handler(event, {}));
    event.Records[0].cf.response = structuredClone(once);
    assert.deepEqual(await lambda.handler(event, {}), once, c.name);
  }
});

test('AWS sample events: all four triggers', async () => {
  const vr = readJson('events/viewer-request.json');
  const vrOut = await lambda.handler(structuredClone(vr), {});
  assert.deepEqual(vrOut, vr.Records[0].cf.request);

  const orq = readJson('events/origin-request.json');
  assert.deepEqual(await lambda.handler(structuredClone(orq), {}), orq.Records[0].cf.request);

  const ors = readJson('events/origin-response.json');
  const orsOut = await lambda.handler(structuredClone(ors), {});
  assert.deepEqual(orsOut.headers['cache-control'], [{
    key: 'Cache-Control', value: 'public, max-age=0, s-maxage=60, stale-while-revalidate=300, stale-if-error=86400',
  }]);
  const { ['cache-control']: _, ...rest } = orsOut.headers;
  assert.deepEqual(rest, ors.Records[0].cf.response.headers);

  const vrs = readJson('events/viewer-response.json');
  assert.deepEqual(await lambda.handler(structuredClone(vrs), {}), vrs.Records[0].cf.response);

  const body = readJson('events/viewer-request-body.json');
  assert.deepEqual(await lambda.handler(structuredClone(body), {}), body.Records[0].cf.request);
});

test('malformed events never throw; whatever can be read gets the header rules', async (t) => {
  const base = () => viewerRequestEvent({
    method: 'GET', uri: '//a', querystring: 'utm_source=x',
    headers: { host: ['h'], 'x-forwarded-host': ['evil'], 'accept-encoding': ['gzip'] },
  });
  const cases = {
    // [mutate, expected uri, expected querystring]: the URL is rewritten when it can be read,
    // kept when it cannot; the unkeyed header is gone in every case.
    'header values not an array': [(e) => { e.Records[0].cf.request.headers.cookie = 'a=1'; }, '/a', ''],
    'null header entry': [(e) => { e.Records[0].cf.request.headers.cookie = [null]; }, '/a', ''],
    'non-string header value': [(e) => { e.Records[0].cf.request.headers.cookie = [{ key: 'Cookie', value: 7 }]; }, '/a', ''],
    'NUL inside a header value': [(e) => { e.Records[0].cf.request.headers.cookie = [{ key: 'Cookie', value: 'a\0b' }]; }, '/a', ''],
    'lone surrogate in a header value': [(e) => { e.Records[0].cf.request.headers.cookie = [{ key: 'Cookie', value: '\ud800' }]; }, '/a', ''],
    'non-string uri': [(e) => { e.Records[0].cf.request.uri = 42; }, 42, 'utm_source=x'],
    'uri without leading slash': [(e) => { e.Records[0].cf.request.uri = 'a/b'; }, 'a/b', 'utm_source=x'],
    'lone surrogate in the uri': [(e) => { e.Records[0].cf.request.uri = '/a\udc00'; }, '/a\udc00', 'utm_source=x'],
    'missing querystring': [(e) => { delete e.Records[0].cf.request.querystring; }, '//a', undefined],
  };
  for (const [name, [mutate, uri, querystring]] of Object.entries(cases)) {
    await t.test(name, async () => {
      const event = base();
      mutate(event);
      const { result } = await logsOf(() => lambda.handler(event, {}));
      assert.equal(result.uri, uri);
      assert.equal(result.querystring, querystring);
      assert.deepEqual(compact(result.headers), { host: ['h'], 'accept-encoding': ['gzip'] });
    });
  }
  for (const [name, mutate] of Object.entries({
    'missing headers': (e) => { delete e.Records[0].cf.request.headers; },
    'null headers': (e) => { e.Records[0].cf.request.headers = null; },
  })) {
    await t.test(name, async () => {
      const event = base();
      mutate(event);
      const before = structuredClone(event.Records[0].cf.request);
      const { result, lines } = await logsOf(() => lambda.handler(event, {}));
      assert.deepEqual(result, before);
      assert.equal(JSON.parse(lines[0]).reason, 'no-headers');
    });
  }
  for (const [name, event] of Object.entries({
    'no Records': {}, 'empty Records': { Records: [] }, 'null event': null, 'no config': { Records: [{ cf: {} }] },
  })) {
    await t.test(name, async () => {
      const { result, lines } = await logsOf(() => lambda.handler(event, {}));
      assert.equal(result, undefined);
      assert.equal(JSON.parse(lines[0]).reason, 'unusable-event');
    });
  }
});

test('a NUL is a byte like any other: it crosses the boundary and never skips a rule', async () => {
  const event = viewerRequestEvent({
    method: 'GET', uri: '/api/\0products', querystring: 'q=\0&utm_source=x',
    headers: { host: ['h'], 'user-agent': ['Mozilla\0'], 'x-forwarded-host': ['evil'], cookie: ['s=1'], 'x-\0odd': ['v\0'] },
  });
  const out = await lambda.handler(event, {});
  assert.equal(out.uri, '/api/%00products');
  assert.equal(out.querystring, 'q=%00');
  assert.deepEqual(compact(out.headers), { host: ['h'] });
});

test('the credential crosses the boundary exactly: relayed on bypass, a forged relay deleted', async () => {
  const token = 'Bearer \u00e9\u{1F600}\0'.slice(0, -1); // non-ASCII and astral survive intact
  const bypass = await lambda.handler(viewerRequestEvent({
    method: 'GET', uri: '/api/me', querystring: '',
    headers: { host: ['h'], authorization: [token], 'x-viewer-authorization': ['Bearer forged'] },
  }), {});
  assert.deepEqual(bypass.headers['x-viewer-authorization'], [{ key: 'X-Viewer-Authorization', value: token }]);
  const forged = await lambda.handler(viewerRequestEvent({
    method: 'GET', uri: '/api/products/1', querystring: '', headers: { host: ['h'], 'x-viewer-authorization': ['Bearer forged'] },
  }), {});
  assert.deepEqual(Object.keys(forged.headers), ['host']);
});

test('origin-response: an unreadable Cache-Control is no-store; Expires is read against Date.now()', async () => {
  const request = { method: 'GET', uri: '/api/products/1', headers: { host: ['h'] } };
  const unreadable = await lambda.handler(originResponseEvent(request, {
    status: '200', headers: { 'cache-control': ['public, max-age=60\ud800'] },
  }), {});
  assert.equal(unreadable.headers['cache-control'][0].value, 'no-store');

  const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
  const expires = await lambda.handler(originResponseEvent(request, { status: '200', headers: { expires: [inTwoMinutes] } }), {});
  const maxAge = Number(/max-age=(\d+)/.exec(expires.headers['cache-control'][0].value)[1]);
  assert.ok(maxAge >= 118 && maxAge <= 120, `max-age=${maxAge}`);
  assert.deepEqual(expires.headers.expires, [{ key: 'expires', value: inTwoMinutes }], 'Expires is left as it came');
});

test('odd but valid input: over-long query, non-ASCII, many headers', async () => {
  const longQuery = Array.from({ length: 2000 }, (_, i) => `p${i}=\u00e9`).join('&');
  const event = viewerRequestEvent({ method: 'GET', uri: '/search', querystring: longQuery, headers: { host: ['h'], 'x-forwarded-host': ['evil'] } });
  const out = await lambda.handler(event, {});
  assert.equal(out.querystring, longQuery, 'URL that would exceed 8,192 bytes is kept as received');
  assert.deepEqual(Object.keys(out.headers), ['host'], 'header rules still apply');

  const many = { host: ['h'] };
  for (let i = 0; i < 200; i++) many[`x-h${i}`] = ['\u00fc\u00df'];
  const out2 = await lambda.handler(viewerRequestEvent({ method: 'GET', uri: '/\u00fc', querystring: 'q=\u00df', headers: many }), {});
  assert.equal(out2.uri, '/%C3%BC');
  assert.equal(out2.querystring, 'q=%C3%9F');
  assert.equal(Object.keys(out2.headers).length, 201);
});

test('answers of several KB cross intact, ASCII or not', async () => {
  // Around the glue's first input buffer (1,024 bytes) and past it, and a non-ASCII answer
  // of ~8 KB: every answer is decoded from memory with one `utf8Slice`.
  for (const size of [1_000, 1_024, 4_097, 8_000]) {
    const value = 'v'.repeat(size);
    const out = await lambda.handler(viewerRequestEvent({ method: 'GET', uri: '/search', querystring: `b=${value}&a=1`,
      headers: { host: ['h'] } }), {});
    assert.equal(out.querystring, `a=1&b=${value}`, `${size}`);
  }
  const token = `Bearer ${'\u00e9'.repeat(3_000)}\u{1F600}${'t'.repeat(5_000)}`;
  const out = await lambda.handler(viewerRequestEvent({ method: 'GET', uri: '/api/me', querystring: '',
    headers: { host: ['h'], authorization: [token] } }), {});
  assert.deepEqual(out.headers['x-viewer-authorization'], [{ key: 'X-Viewer-Authorization', value: token }]);
});

test('malformed input is logged as one JSON line', async () => {
  const event = viewerRequestEvent({ method: 'GET', uri: 'nope', querystring: '', headers: { host: ['h'] } });
  const { lines } = await logsOf(() => lambda.handler(event, {}));
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]).reason, 'uri-not-absolute');
});

test('a trap returns the input unchanged, logs once and reloads a fresh instance', async () => {
  const { _internals } = lambda;
  _internals.setCore({
    viewer_request() { throw new WebAssembly.RuntimeError('unreachable'); },
    origin_response() { throw new WebAssembly.RuntimeError('unreachable'); },
  });
  const event = viewerRequestEvent({ method: 'GET', uri: '//a', querystring: 'b=1&a=1', headers: { host: ['h'] } });
  const before = structuredClone(event.Records[0].cf.request);
  const { result, lines } = await logsOf(() => lambda.handler(event, {}));
  assert.deepEqual(result, before);
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).reason, 'wasm-trap');
  // The reload put the real core back: the next event is normalized.
  const next = await lambda.handler(viewerRequestEvent({ method: 'GET', uri: '//a', querystring: 'b=1&a=1', headers: { host: ['h'] } }), {});
  assert.equal(next.uri, '/a');
  assert.equal(next.querystring, 'a=1&b=1');
  // Only the trapped trigger's instance was reloaded: origin-response still has the stub.
  const ors = readJson('events/origin-response.json');
  const { lines: originLines } = await logsOf(() => lambda.handler(structuredClone(ors), {}));
  assert.equal(JSON.parse(originLines[0]).trigger, 'origin-response');
  const after = await lambda.handler(structuredClone(ors), {});
  assert.ok(after.headers['cache-control'], 'its own trap reloaded origin-response');
});

test('a package whose viewer-request module will not load fails at require, loudly', () => {
  const os = require('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-pkg-'));
  try {
    fs.cpSync(PKG, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'pkg', 'viewer_request.wasm'), Buffer.from('not wasm'));
    assert.throws(() => require(path.join(dir, 'index.js')), WebAssembly.CompileError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a package whose origin-response module will not load still serves: viewer-request works, responses pass', async () => {
  const os = require('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-pkg-'));
  try {
    fs.mkdirSync(path.join(dir, 'pkg'));
    fs.copyFileSync(path.join(PKG, 'index.js'), path.join(dir, 'index.js'));
    fs.copyFileSync(path.join(PKG, 'pkg', 'viewer_request.wasm'), path.join(dir, 'pkg', 'viewer_request.wasm'));
    fs.writeFileSync(path.join(dir, 'pkg', 'origin_response.wasm'), Buffer.from('not wasm'));
    const partial = require(path.join(dir, 'index.js'));
    const req = await partial.handler(viewerRequestEvent({ method: 'GET', uri: '//a', querystring: 'b=1&a=1', headers: { host: ['h'] } }), {});
    assert.equal(req.uri, '/a');
    const ors = readJson('events/origin-response.json');
    for (let i = 0; i < 2; i++) {
      const { result, lines } = await logsOf(() => partial.handler(structuredClone(ors), {}));
      assert.deepEqual(result, ors.Records[0].cf.response);
      assert.equal(lines.length, 1);
      assert.equal(JSON.parse(lines[0]).reason, 'exception');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an exception in the core returns the response unchanged', async () => {
  const { _internals } = lambda;
  _internals.setCore({ origin_response() { throw new TypeError('boom'); } });
  const ors = readJson('events/origin-response.json');
  const { result, lines } = await logsOf(() => lambda.handler(structuredClone(ors), {}));
  assert.deepEqual(result, ors.Records[0].cf.response);
  assert.equal(JSON.parse(lines[0]).reason, 'exception');
  _internals.reload();
});

// The raw boundary (edge-worker/src/raw.rs): input written straight into Wasm memory, the
// answer read from it. These fail if a grown memory, a long or non-ASCII field, or a NUL
// were mis-encoded.
test('an input larger than the buffer (memory grows) crosses intact, and the next event still does', async () => {
  // 300 KB of read headers (past any buffer the glue starts with) and a long, non-canonical URL.
  const long = '/api/products/' + 'x'.repeat(5_000);
  const big = viewerRequestEvent({ method: 'GET', uri: '/' + long, querystring: 'page=2&category=x',
    headers: { host: ['h'], 'x-forwarded-host': ['e'.repeat(150_000)], cookie: ['c'.repeat(150_000)] } });
  const { result } = await logsOf(() => lambda.handler(big, {}));
  assert.ok(result.uri === long, 'the long URL is normalized');
  assert.equal(result.querystring, 'category=x&page=2');
  assert.deepEqual(Object.keys(result.headers), ['host']);
  for (let i = 0; i < 3; i++) {
    const next = await lambda.handler(viewerRequestEvent({ method: 'GET', uri: '//a', querystring: 'b=1&a=1', headers: { host: ['h'] } }), {});
    assert.equal(next.uri, '/a');
    assert.equal(next.querystring, 'a=1&b=1');
  }
});

test('non-ASCII, astral and NUL fields cross as the same text', async () => {
  const event = viewerRequestEvent({ method: 'GET', uri: '/api/products/caf\u00e9\u{1F600}', querystring: 'q=\u00fc\0&utm_source=x',
    headers: { 'accept-encoding': ['gzip, br'], 'x-note': ['\u00e9t\u00e9'], 'x-nul': ['a\0b'] } });
  const result = await lambda.handler(event, {});
  assert.equal(result.uri, '/api/products/caf%C3%A9%F0%9F%98%80');
  assert.equal(result.querystring, 'q=%C3%BC%00');
  assert.deepEqual(compact(result.headers), { 'accept-encoding': ['br,gzip'], 'x-note': ['\u00e9t\u00e9'] });
});

test('a lone surrogate in the URL keeps the URL as received; in a header value deletes the header', async () => {
  const event = viewerRequestEvent({ method: 'GET', uri: '//a\ud800', querystring: 'b=1&a=1',
    headers: { 'user-agent': ['x\udc00'], 'accept-encoding': ['gzip'] } });
  const { result, lines } = await logsOf(() => lambda.handler(event, {}));
  assert.equal(result.uri, '//a\ud800');
  assert.equal(result.querystring, 'b=1&a=1');
  assert.deepEqual(compact(result.headers), { 'accept-encoding': ['gzip'] });
  assert.equal(JSON.parse(lines[0]).reason, 'url-unreadable');
});

test('an unchanged request is answered without edits and is the same object', async () => {
  const event = viewerRequestEvent({ method: 'GET', uri: '/api/products/1', querystring: 'page=2', headers: { 'accept-encoding': ['br,gzip'] } });
  const before = structuredClone(event.Records[0].cf.request);
  const { result, lines } = await logsOf(() => lambda.handler(event, {}));
  assert.equal(result, event.Records[0].cf.request);
  assert.deepEqual(result, before);
  assert.equal(lines.length, 0);
});

test('a trap in the middle of an encoded call reloads a core that answers correctly', async () => {
  const { _internals } = lambda;
  const real = _internals.core();
  let calls = 0;
  // The real core encodes the input into memory, then the call traps.
  _internals.setCore({
    viewer_request(request) {
      calls++;
      real.viewer_request(request);
      throw new WebAssembly.RuntimeError('unreachable');
    },
  });
  const event = viewerRequestEvent({ method: 'GET', uri: '//a', querystring: 'b=1&a=1', headers: { host: ['h'] } });
  const { result, lines } = await logsOf(() => lambda.handler(event, {}));
  assert.equal(calls, 1);
  assert.equal(result.uri, '//a');
  assert.equal(JSON.parse(lines[0]).reason, 'wasm-trap');
  assert.notEqual(_internals.core(), real);
  const next = await lambda.handler(viewerRequestEvent({ method: 'GET', uri: '//a', querystring: 'b=1&a=1', headers: { host: ['h'] } }), {});
  assert.equal(next.uri, '/a');
});
