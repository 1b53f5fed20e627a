// The harness for the Worker's tests: the BUILT bundle (cf-worker/build, `make worker`) run
// by miniflare, in front of a counting origin written in Node, everything on loopback and
// free ports. A test reads like a sentence:
//
//   const origin = await CountingOrigin.start();
//   origin.on("/api/products/1", () => ({ headers: { etag: '"v1"' }, body: "one" }));
//   const edge = await Edge.start({ origin });
//   const res = await edge.get("/api/products/1?utm_source=x");
//   assert.equal(origin.count("/api/products/1"), 1);

import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, "../..");
export const BUILD = process.env.WORKER_BUILD_DIR ?? path.join(ROOT, "cf-worker/build");
export const SECRET = "test-origin-secret";

/** An HTTP origin on 127.0.0.1 that counts and records every request and answers per path. */
export class CountingOrigin {
  constructor() {
    this.requests = [];
    this.handlers = new Map();
    this.sockets = new Set();
    this.server = null;
    this.port = 0;
  }

  /** Starts on a free port (or `port`, to come back on the same one after `stop`). */
  static async start(port = 0) {
    const origin = new CountingOrigin();
    await origin.listen(port);
    return origin;
  }

  async listen(port = this.port) {
    this.server = http.createServer((req, res) => this.answer(req, res));
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * `handler(request)` answers requests for `path` (the path without query): it returns
   * `{status, headers, body}` (defaults 200, none, "") or a promise of one, or the string
   * "destroy" to reset the connection. `request` is `{method, path, query, headers, n}`
   * where `n` counts this path's requests from 1.
   */
  on(pathname, handler) {
    this.handlers.set(pathname, handler);
    return this;
  }

  async answer(req, res) {
    const url = new URL(req.url, this.url);
    const record = {
      method: req.method,
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      headers: req.headers,
      n: this.count(url.pathname) + 1,
    };
    this.requests.push(record);
    const handler = this.handlers.get(url.pathname);
    const out = handler ? await handler(record) : { status: 404, body: "no handler\n" };
    if (out === "destroy") {
      req.socket.destroy();
      return;
    }
    res.writeHead(out.status ?? 200, out.headers ?? {});
    res.end(req.method === "HEAD" ? undefined : out.body ?? "");
  }

  /** Requests seen for `pathname` (any query, any method). */
  count(pathname) {
    return this.requests.filter((r) => r.path === pathname).length;
  }

  seen(pathname) {
    return this.requests.filter((r) => r.path === pathname);
  }

  /** Stops listening and drops every open connection: new connections are refused. */
  async stop() {
    if (!this.server) return;
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A gate a handler can wait on: `await gate.passed` until `gate.open()`. */
export function gate() {
  let open;
  const passed = new Promise((resolve) => (open = resolve));
  return { passed, open };
}

/** The built Worker in miniflare, its ORIGIN_URL pointing at `origin`. */
export class Edge {
  /**
   * Options: `origin` (a CountingOrigin, or `originUrl`), `secret` (default SECRET; null for
   * none), `timeoutMs` (ORIGIN_TIMEOUT_MS), `prelude` (JS run before the bundle, to break a
   * runtime dependency), `bindings` (more vars).
   */
  static async start({ origin, originUrl, secret = SECRET, timeoutMs = 5000, prelude, bindings = {} } = {}) {
    const vars = {
      ORIGIN_URL: originUrl ?? origin.url,
      ORIGIN_TIMEOUT_MS: String(timeoutMs),
      ...bindings,
    };
    if (secret !== null) vars.ORIGIN_VERIFY_SECRET = secret;
    const modules = [
      { type: "ESModule", path: path.join(BUILD, "index.js") },
      { type: "CompiledWasm", path: path.join(BUILD, "index_bg.wasm") },
    ];
    if (prelude) {
      // The entry module runs `prelude` once the bundle is loaded, then re-exports it.
      modules.unshift({
        type: "ESModule",
        path: path.join(BUILD, "prelude-entry.mjs"),
        contents: `export { default } from "./index.js";\n${prelude}\n`,
      });
    }
    const mf = new Miniflare({
      modules,
      modulesRoot: BUILD,
      compatibilityDate: "2026-04-01",
      cache: true,
      cf: false,
      bindings: vars,
    });
    await mf.ready;
    const edge = new Edge();
    edge.mf = mf;
    return edge;
  }

  /** A request to the Worker; `path` may carry a query. Host `api.example.com` by default. */
  fetch(pathAndQuery, init = {}) {
    const host = init.host ?? "api.example.com";
    return this.mf.dispatchFetch(`https://${host}${pathAndQuery}`, { redirect: "manual", ...init });
  }

  /** GET, and the body read. */
  async get(pathAndQuery, init = {}) {
    const res = await this.fetch(pathAndQuery, init);
    return { status: res.status, headers: res.headers, body: await res.text() };
  }

  /**
   * The copy stored under a Cache API URL (e.g. `https://api.example.com/api/products/1`),
   * read through miniflare's own handle on the cache, once it is there: puts run in
   * `ctx.waitUntil`, after the viewer already has the answer. `{status, headers, body}`.
   */
  async stored(cacheUrl, { timeoutMs = 10000 } = {}) {
    const caches = await this.mf.getCaches();
    const res = await until(() => caches.default.match(cacheUrl), { timeoutMs, what: `a copy under ${cacheUrl}` });
    return { status: res.status, headers: res.headers, body: await res.text() };
  }

  /** The copy under `cacheUrl` now, or `undefined`. */
  async storedNow(cacheUrl) {
    const caches = await this.mf.getCaches();
    const res = await caches.default.match(cacheUrl);
    return res && { status: res.status, headers: res.headers, body: await res.text() };
  }

  async stop() {
    await this.mf.dispose();
  }
}

/** Polls `check` (sync or async) every `intervalMs` until it is truthy, or throws after `timeoutMs`. */
export async function until(check, { timeoutMs = 10000, intervalMs = 20, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The last member of a `Cache-Status` header: this cache's (RFC 9211: caches append). */
export function ownStatus(headers) {
  const members = (headers.get("cache-status") ?? "").split(",").map((s) => s.trim());
  return members[members.length - 1];
}

/** Headers a viewer must never see. */
export const PRIVATE_HEADERS = ["x-edge-stored-at", "x-edge-cache-control", "x-edge-viewer-cache-control"];
