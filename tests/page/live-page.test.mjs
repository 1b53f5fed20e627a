// The local edge's live page in a real browser: headless Chromium (Debian's `chromium`),
// driven over the DevTools protocol with the `ws` package. The edge is the built
// `local-edge` binary (the Wasm package in Node, the real origin); requests are sent with
// `curl`, as a user would. The page must show each request with the X-Cache curl saw,
// counters equal to /__edge/stats, and on a click the explanation naming the dropped
// tracking parameter; /__edge/* refuses a Host that is not loopback; no credential, cookie
// value or the origin's secret shows on the page or in its JSON. A screenshot is saved under
// target/ (`make screenshot` copies it into docs/).
//
// Needs: `make wasm`, `cargo build --bins -p origin-function -p local-edge`, chromium.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { groupMembers } from '../proc.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TARGET = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOT = join(TARGET, 'screenshots', 'live-page.png');

// What must never show: each credential's value and the origin's secret.
const SECRET = 'origin-secret-9d2b7c41e05a';
const CREDENTIALS = {
  authorization: 'Bearer user-7',
  'x-viewer-authorization': 'Bearer relay-value-5e7f1a',
  cookie: 'session=cookie-value-88c3d1; theme=dark-ab12',
  'x-origin-verify': SECRET,
};
const NEVER_SHOWN = ['user-7', 'relay-value-5e7f1a', 'cookie-value-88c3d1', 'dark-ab12', SECRET];

// Every cleanup runs even when one before it fails: a cleanup that threw used to skip the
// rest, leaving local-edge (and the origins below it) holding the test runner's stderr open,
// so CI waited for its own pipe until its time ran out.
const cleanups = [];
after(async () => {
  const failures = [];
  for (const clean of cleanups.reverse()) {
    try {
      await clean();
    } catch (e) {
      failures.push(e);
    }
  }
  if (failures.length) throw new AggregateError(failures, failures.map((e) => e.message).join('; '));
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, check, limitMs = 20000) {
  const deadline = Date.now() + limitMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)}; rows: ${rowsSeen})`);
}

/** Starts `local-edge` on a free loopback port; resolves with its URL. */
async function startEdge() {
  const bin = (name) => join(TARGET, 'debug', name);
  for (const name of ['local-edge', 'origin-function', 'seed']) {
    assert.ok(existsSync(bin(name)), `${bin(name)} is missing: cargo build --bins -p origin-function -p local-edge`);
  }
  const edge = spawn(bin('local-edge'), [
    '--listen', '127.0.0.1:0', '--products', '50', '--environments', '1',
    '--origin-secret', SECRET, '--log-dir', join(TARGET, 'page-test-logs'),
    '--origin-bin', bin('origin-function'), '--seed-bin', bin('seed'),
  ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(async () => {
    if (edge.exitCode !== null || edge.signalCode !== null) return;
    // The timer is cleared once it has lost: a pending one kept Node alive 15 s after the test.
    let timer;
    const exited = new Promise((r) => {
      edge.once('exit', () => r(true));
      timer = setTimeout(() => r(false), 15000);
    });
    edge.kill('SIGTERM');
    const stopped = await exited;
    clearTimeout(timer);
    if (!stopped) {
      edge.kill('SIGKILL');
      throw new Error('local-edge did not stop within 15 s of SIGTERM');
    }
  });
  const lines = createInterface({ input: edge.stdout });
  return new Promise((resolve, reject) => {
    edge.once('exit', (code) => reject(new Error(`local-edge exited with ${code}`)));
    lines.on('line', (line) => {
      const m = line.match(/^local edge: (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
  });
}

/** Starts headless Chromium; resolves with its browser-wide DevTools WebSocket URL. */
async function startChromium() {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium chromium-driver (make test does)`);
  const profile = mkdtempSync(join(tmpdir(), 'edge-page-chromium-'));
  const browser = spawn(CHROMIUM, [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', '--remote-debugging-address=127.0.0.1',
    'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  // Chromium is a browser process plus zygote, renderer, GPU and crashpad children. Killing
  // the browser alone left children writing into the profile while it was being removed
  // (ENOTEMPTY); so it runs in its own process group, and the whole group is killed and
  // waited for before the profile goes.
  cleanups.push(async () => {
    try {
      process.kill(-browser.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    const deadline = Date.now() + 10000;
    while (groupMembers(browser.pid).length && Date.now() < deadline) await sleep(50);
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });
  const lines = createInterface({ input: browser.stderr });
  return new Promise((resolve, reject) => {
    browser.once('exit', (code) => reject(new Error(`chromium exited with ${code}`)));
    lines.on('line', (line) => {
      const m = line.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
  });
}

/** A DevTools protocol client over one WebSocket, with flattened sessions. */
async function devtools(url) {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
  cleanups.push(async () => socket.close());
  let next = 1;
  const pending = new Map();
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString());
    const waiter = message.id && pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
    else waiter.resolve(message.result);
  });
  const send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject, method });
    socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
  });
  return { send };
}

/** A page: evaluate, click, screenshot. */
async function openPage(cdp, width, height) {
  const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
  const send = (method, params) => cdp.send(method, params, sessionId);
  await send('Page.enable');
  await send('Runtime.enable');
  await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
  const evaluate = async (expression) => {
    const { result, exceptionDetails } = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.text}`);
    return result.value;
  };
  const click = async (selector) => {
    const box = await evaluate(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
      if (!e) return null; e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();
      return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`);
    assert.ok(box, `nothing to click at ${selector}`);
    for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
      await send('Input.dispatchMouseEvent', { type, x: box.x, y: box.y, button: 'left', clickCount: 1 });
    }
  };
  return { send, evaluate, click };
}

/** `curl` as a user runs it: the status and the X-Cache header it saw. */
function curl(url, headers = {}) {
  const args = ['-s', '-o', '/dev/null', '-D', '-', '--max-time', '20'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  const head = execFileSync('curl', [...args, url], { encoding: 'utf8' });
  const status = Number(head.match(/^HTTP\/[\d.]+ (\d+)/)[1]);
  const xCache = (head.match(/^x-cache: (.*?)\r?$/im) || [])[1] || '';
  return { status, xCache };
}

let rowsSeen = null;
const json = async (url) => (await fetch(url, { cache: 'no-store' })).json();

test('the live page shows what curl saw, explains a click and shows no secret', { timeout: 180000 }, async () => {
  const [base, browserUrl] = await Promise.all([startEdge(), startChromium()]);
  const cdp = await devtools(browserUrl);
  const page = await openPage(cdp, 1600, 1000);
  await page.send('Page.navigate', { url: `${base}/__edge/` });
  await until('the page to poll once', () => page.evaluate('document.body && document.body.dataset.latest !== undefined'));

  // A product twice with different tracking parameters (a miss, then a hit on the shared
  // key), a listing, a negative answer, and the credentials on a private path.
  const sent = [
    ['/api/products/42?utm_source=news&page=2', {}],
    ['/api/products/42?fbclid=abc123&page=2', {}],
    ['/api/products?sort=price&category=books&gclid=9', {}],
    ['/nothing-here', {}],
    ['/api/me', CREDENTIALS],
    [`/api/products/5?q=${SECRET}`, {}],
  ].map(([path, headers]) => ({ path, ...curl(base + path, headers) }));
  assert.equal(sent[0].xCache, 'Miss from cloudfront');
  assert.equal(sent[1].xCache, 'Hit from cloudfront');

  await until('a row per request', () => page.evaluate(`(() => { const n = document.querySelectorAll('#requests tbody tr').length;
    return n === ${sent.length} || [...document.querySelectorAll('#requests tbody td.url')].map((t) => t.textContent).join(' ') + ' ' + document.getElementById('status').textContent; })()`).then((v) => v === true || (rowsSeen = v, false)));
  const rows = await page.evaluate(`[...document.querySelectorAll('#requests tbody tr')].map((tr) => ({
    id: tr.dataset.id, url: tr.querySelector('td.url').textContent, xCache: tr.querySelector('td.xcache').title,
    key: tr.querySelector('td.key').textContent }))`);
  for (const { path, xCache } of sent) {
    if (path.includes(SECRET)) continue; // its URL shows redacted
    const row = rows.find((r) => r.url === path);
    assert.ok(row, `a row for ${path} in ${JSON.stringify(rows)}`);
    assert.equal(row.xCache, xCache, `X-Cache of ${path}`);
  }
  const product = rows.filter((r) => r.url.startsWith('/api/products/42'));
  assert.equal(product.length, 2);
  assert.equal(product[0].key, 'd111111abcdef8.cloudfront.net/api/products/42?page=2');
  assert.equal(product[0].key, product[1].key, 'the miss and the hit share the key');

  // The counters are /__edge/stats (nothing is in flight now).
  const stats = await json(`${base}/__edge/stats`);
  await until('the counters to catch up', () => page.evaluate(`document.querySelector('[data-counter=requests]').textContent === '${stats.requests}'`));
  const counters = await page.evaluate(`Object.fromEntries([...document.querySelectorAll('[data-counter]')]
    .map((e) => [e.dataset.counter, e.textContent]))`);
  for (const [name, shown] of Object.entries(counters)) assert.equal(shown, String(stats[name]), `counter ${name}`);
  assert.equal(await page.evaluate(`document.querySelectorAll('#environments tbody tr').length`), stats.environments.length);
  assert.ok(await page.evaluate(`document.querySelectorAll('#chart polyline, #chart circle').length > 0`), 'the chart draws');

  // A click on the hit explains it: the dropped tracking parameter, computed natively.
  const hit = rows.find((r) => r.url.startsWith('/api/products/42?fbclid'));
  await page.click(`#requests tbody tr[data-id="${hit.id}"] td.url`);
  const explanation = await until('the explanation', () => page.evaluate(`(() => {
    const pre = document.querySelector('#detail pre.explanation');
    return pre && document.getElementById('detail').dataset.id === '${hit.id}' ? document.getElementById('detail').textContent : null; })()`));
  assert.match(explanation, /dropped "fbclid=abc123": tracking parameter fbclid/);
  assert.match(explanation, /native edge-policy/);
  assert.match(explanation, /cloudfront cache key d111111abcdef8\.cloudfront\.net\/api\/products\/42\?page=2/);

  // The screenshot, with the explanation open (target/ only: the test never dirties the tree).
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.evaluate('window.scrollTo(0, 0)');
  const { data } = await page.send('Page.captureScreenshot', { format: 'png' });
  writeFileSync(SCREENSHOT, Buffer.from(data, 'base64'));

  // No credential, cookie value or the secret: on the page (with the private request's
  // explanation open) and in every JSON it reads.
  const me = rows.find((r) => r.url === '/api/me');
  await page.click(`#requests tbody tr[data-id="${me.id}"] td.url`);
  await until('the private explanation', () => page.evaluate(`document.getElementById('detail').dataset.id === '${me.id}' && !!document.querySelector('#detail pre')`));
  const html = await page.evaluate('document.documentElement.outerHTML');
  assert.match(html, /x-origin-verify/);
  assert.match(html, /\[redacted\]/);
  let everything = html + JSON.stringify(await json(`${base}/__edge/live?after=0`)) + JSON.stringify(stats);
  for (const r of rows) everything += JSON.stringify(await json(`${base}/__edge/explain?id=${r.id}`));
  for (const value of NEVER_SHOWN) assert.ok(!everything.includes(value), `${value} shows on the page or in its JSON`);

  // /__edge/* answers only a loopback Host (DNS rebinding): 403 to any other.
  for (const path of ['/__edge/', '/__edge/live', '/__edge/stats', `/__edge/explain?id=${hit.id}`]) {
    for (const host of ['evil.example', 'rebound.example:8080']) {
      const code = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: ${host}`, base + path], { encoding: 'utf8' });
      assert.equal(code, '403', `${path} with Host ${host}`);
    }
  }
});
