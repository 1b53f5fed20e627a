// The Worker as an RFC 9111 shared cache (issue 24): Age counted once, at receipt; both
// validators on a revalidation, and a copy past its windows kept for them; a viewer's
// conditional answered from a fresh copy; unsafe methods invalidating; hop-by-hop fields
// dropped; CDN-Cache-Control setting the edge's lifetime, never loosening it. The built
// bundle in miniflare, in front of a counting origin on loopback.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CountingOrigin, Edge, PRIVATE_HEADERS, gate, ownStatus, until } from "./harness.mjs";

const HOST = "https://api.example.com";
let origin;
let edge;

before(async () => {
  origin = await CountingOrigin.start();
  edge = await Edge.start({ origin, timeoutMs: 1500 });
});

after(async () => {
  await edge?.stop();
  await origin?.stop();
});

const now = () => new Date().toUTCString();
const ttlOf = (res) => Number(/ttl=(-?\d+)/.exec(ownStatus(res.headers))?.[1]);

test("an answer that arrives 250 s old on a 300-s route is kept 50 s: not 0, not 300 (RFC 9111 §4.2.3)", async () => {
  // The origin's own L2 answer: its remaining freshness, no Age (origin-cache.md).
  origin.on("/api/products/aged-l2", () => ({
    headers: {
      "cache-control": "public, max-age=0, s-maxage=50, stale-while-revalidate=86400, stale-if-error=86400",
      "cache-status": "origin; hit; ttl=50; detail=l2",
      date: now(),
      etag: '"l2"',
    },
    body: "l2",
  }));
  // A shared cache upstream that relays a 250-s-old copy of a 300-s answer, with Age.
  origin.on("/api/products/aged-upstream", () => ({
    headers: { "cache-control": "public, s-maxage=300", age: "250", date: now() },
    body: "upstream",
  }));
  for (const path of ["/api/products/aged-l2", "/api/products/aged-upstream"]) {
    const miss = await edge.get(path);
    assert.match(ownStatus(miss.headers), /fwd=miss; fwd-status=200; stored/, path);
    await edge.stored(`${HOST}${path}`);
    const hit = await edge.get(path);
    assert.match(ownStatus(hit.headers), /^cf-worker; hit; ttl=/, path);
    // 50 s less the seconds since the origin wrote its Date (a loaded machine takes a few).
    const ttl = ttlOf(hit);
    assert.ok(ttl <= 50 && ttl >= 40, `${path}: kept 50 s, got ${ownStatus(hit.headers)}`);
    assert.equal(origin.count(path), 1, path);
  }
  const upstream = await edge.get("/api/products/aged-upstream");
  assert.ok(Number(upstream.headers.get("age")) >= 250, "the hit's Age counts the age it arrived with");
  const copy = await edge.storedNow(`${HOST}/api/products/aged-upstream`);
  assert.ok(Date.now() - Number(copy.headers.get("x-edge-stored-at")) >= 249_000, "stamped 250 s earlier");
  assert.notEqual(copy.headers.get("age"), "250", "the origin's Age is never stored (the Cache API adds its own)");
  // Kept to the end of its last window, counted from when it was generated: 300 + 86400 - 250.
  assert.match(copy.headers.get("cache-control"), /^public, s-maxage=(86449|86450)$/);
});

test("a Last-Modified-only copy past its windows is revalidated with If-Modified-Since and takes the 304's headers", async () => {
  const modified = "Mon, 30 Nov 2026 08:00:00 GMT";
  origin.on("/api/products/lm", (r) =>
    r.headers["if-modified-since"] === modified
      ? { status: 304, headers: { "last-modified": modified, "x-version": "2" } }
      : {
          headers: {
            "cache-control": "public, s-maxage=0, stale-while-revalidate=0, stale-if-error=0",
            "last-modified": modified,
            "x-version": "1",
          },
          body: "lm-body",
        },
  );
  await edge.get("/api/products/lm");
  const kept = await edge.stored(`${HOST}/api/products/lm`);
  assert.equal(kept.headers.get("cache-control"), "public, s-maxage=3600", "kept an hour for its validator");
  const res = await edge.get("/api/products/lm");
  const asked = origin.seen("/api/products/lm")[1];
  assert.ok(asked, "the copy past its windows was revalidated, not refetched whole");
  assert.equal(asked.headers["if-modified-since"], modified);
  assert.equal(asked.headers["if-none-match"], undefined);
  assert.equal(res.status, 200);
  assert.equal(res.body, "lm-body");
  assert.equal(res.headers.get("x-version"), "2");
  assert.match(ownStatus(res.headers), /^cf-worker; fwd=stale; fwd-status=304; stored$/);
  const refreshed = await until(async () => {
    const copy = await edge.storedNow(`${HOST}/api/products/lm`);
    return copy?.headers.get("x-version") === "2" && copy;
  }, { what: "the refreshed copy" });
  assert.equal(refreshed.body, "lm-body");
});

test("a revalidation sends both validators when the copy has both", async () => {
  const modified = "Mon, 30 Nov 2026 08:00:00 GMT";
  origin.on("/api/products/both", (r) =>
    r.n === 1
      ? { headers: { "cache-control": "public, s-maxage=0, stale-while-revalidate=0", etag: '"b1"', "last-modified": modified }, body: "b" }
      : { status: 304, headers: { etag: '"b1"' } },
  );
  await edge.get("/api/products/both");
  await edge.stored(`${HOST}/api/products/both`);
  await edge.get("/api/products/both");
  const asked = origin.seen("/api/products/both")[1];
  assert.equal(asked.headers["if-none-match"], '"b1"');
  assert.equal(asked.headers["if-modified-since"], modified);
});

test("a stale must-revalidate copy is revalidated, never served", async () => {
  let mode = "304";
  origin.on("/api/products/must", (r) => {
    if (r.n === 1) {
      return { headers: { "cache-control": "public, s-maxage=0, must-revalidate", etag: '"m1"' }, body: "must" };
    }
    if (mode === "304") return { status: 304, headers: { etag: '"m1"' } };
    return { status: 503, body: "down" };
  });
  const first = await edge.get("/api/products/must");
  assert.equal(first.headers.get("cache-control"), "public, must-revalidate, max-age=60, s-maxage=0", "no stale window added");
  await edge.stored(`${HOST}/api/products/must`);
  const revalidated = await edge.get("/api/products/must");
  assert.equal(origin.seen("/api/products/must")[1].headers["if-none-match"], '"m1"');
  assert.equal(revalidated.body, "must");
  assert.match(ownStatus(revalidated.headers), /fwd=stale; fwd-status=304/);
  mode = "503";
  const failed = await edge.get("/api/products/must");
  assert.equal(failed.status, 503, "never the stale copy");
  assert.equal(failed.body, "down");
  assert.equal(failed.headers.get("cache-control"), "no-store");
  assert.equal(origin.count("/api/products/must"), 3);
});

test("a viewer's If-None-Match gets 304 from the fresh copy and 200 from a stale one; If-None-Match wins over If-Modified-Since", async () => {
  const modified = "Mon, 30 Nov 2026 08:00:00 GMT";
  origin.on("/api/products/cond", () => ({
    headers: { etag: '"c1"', "last-modified": modified, vary: "Accept-Encoding", "content-type": "text/plain", expires: "Thu, 01 Jan 2037 00:00:00 GMT" },
    body: "cond",
  }));
  const first = await edge.get("/api/products/cond");
  await edge.stored(`${HOST}/api/products/cond`);
  const nm = await edge.get("/api/products/cond", { headers: { "if-none-match": 'W/"c1"' } });
  assert.equal(nm.status, 304);
  assert.equal(nm.body, "");
  assert.equal(nm.headers.get("etag"), '"c1"');
  assert.equal(nm.headers.get("cache-control"), first.headers.get("cache-control"));
  assert.equal(nm.headers.get("vary"), "Accept-Encoding");
  assert.equal(nm.headers.get("expires"), "Thu, 01 Jan 2037 00:00:00 GMT");
  assert.ok(nm.headers.get("date"));
  assert.equal(nm.headers.get("content-type"), null, "only what RFC 9110 §15.4.5 lists");
  assert.match(ownStatus(nm.headers), /^cf-worker; hit; ttl=/);
  for (const h of PRIVATE_HEADERS) assert.equal(nm.headers.get(h), null, h);
  const later = "Tue, 01 Dec 2026 08:00:00 GMT";
  assert.equal((await edge.get("/api/products/cond", { headers: { "if-modified-since": later } })).status, 304);
  const both = await edge.get("/api/products/cond", { headers: { "if-none-match": '"other"', "if-modified-since": later } });
  assert.equal(both.status, 200, "If-None-Match takes precedence (RFC 9110 §13.2.2)");
  assert.equal(both.body, "cond");
  assert.equal(origin.count("/api/products/cond"), 1, "answered from the copy, never the origin");

  origin.on("/api/products/cond-stale", () => ({
    headers: { "cache-control": "public, s-maxage=0, stale-while-revalidate=600", etag: '"s1"' },
    body: "stale",
  }));
  await edge.get("/api/products/cond-stale");
  await edge.stored(`${HOST}/api/products/cond-stale`);
  const stale = await edge.get("/api/products/cond-stale", { headers: { "if-none-match": '"s1"' } });
  assert.equal(stale.status, 200, "a stale copy is not answered 304");
  assert.equal(stale.body, "stale");
});

test("POST then GET reaches the origin; same-origin Location is invalidated too, an error or another origin's never", async () => {
  const bodies = { p1: 0, p2: 0, p3: 0 };
  for (const id of Object.keys(bodies)) {
    origin.on(`/api/products/${id}`, (r) => {
      if (r.method !== "GET") {
        return r.headers["x-fail"]
          ? { status: 500, body: "no" }
          : { status: 201, headers: { location: r.headers["x-location"] ?? "/api/products/p2" }, body: "created" };
      }
      bodies[id] += 1;
      return { body: `${id}-v${bodies[id]}` };
    });
  }
  for (const id of Object.keys(bodies)) {
    await edge.get(`/api/products/${id}`);
    await edge.stored(`${HOST}/api/products/${id}`);
  }
  assert.equal((await edge.get("/api/products/p1")).body, "p1-v1");
  // A failed POST invalidates nothing.
  const failed = await edge.fetch("/api/products/p1", { method: "POST", body: "x", headers: { "x-fail": "1" } });
  assert.equal(failed.status, 500);
  assert.match(ownStatus((await edge.get("/api/products/p1")).headers), /hit/);
  const created = await edge.fetch("/api/products/p1", { method: "POST", body: "x" });
  assert.equal(created.status, 201);
  assert.equal(await edge.storedNow(`${HOST}/api/products/p1`), undefined);
  const p1 = await edge.get("/api/products/p1");
  assert.equal(p1.body, "p1-v2", "the GET after the POST reaches the origin");
  assert.match(ownStatus(p1.headers), /fwd=miss/);
  assert.equal((await edge.get("/api/products/p2")).body, "p2-v2", "Location on the same origin: invalidated");
  await edge.fetch("/api/products/p3", {
    method: "PUT",
    body: "x",
    headers: { "x-location": "https://elsewhere.example/api/products/p1" },
  });
  assert.equal((await edge.get("/api/products/p3")).body, "p3-v2");
  await edge.stored(`${HOST}/api/products/p1`);
  assert.match(ownStatus((await edge.get("/api/products/p1")).headers), /hit/, "another origin's Location: never");
});

test("a background revalidation in flight never re-stores a copy invalidated after it started", async () => {
  const release = gate();
  let version = 0;
  origin.on("/api/products/race", async (r) => {
    if (r.method === "DELETE") return { status: 204 };
    version += 1;
    if (version === 2) await release.passed;
    return { headers: { "cache-control": "public, s-maxage=0, stale-while-revalidate=600", etag: `"r${version}"` }, body: `race-v${version}` };
  });
  await edge.get("/api/products/race");
  await edge.stored(`${HOST}/api/products/race`);
  const stale = await edge.get("/api/products/race");
  assert.match(ownStatus(stale.headers), /detail=revalidating/);
  await until(() => version === 2, { what: "the revalidation at the origin" });
  const deleted = await edge.fetch("/api/products/race", { method: "DELETE" });
  assert.equal(deleted.status, 204);
  release.open();
  // The revalidation's answer came back after the DELETE: it must not be put back.
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(await edge.storedNow(`${HOST}/api/products/race`), undefined);
  const next = await edge.get("/api/products/race");
  assert.match(ownStatus(next.headers), /fwd=miss/);
  assert.equal(next.body, "race-v3");
});

test("a Connection: x-foo answer never stores or forwards X-Foo (RFC 9110 §7.6.1)", async () => {
  origin.on("/api/products/hop", () => ({
    headers: { connection: "x-foo", "x-foo": "per-connection", "keep-alive": "timeout=5", "x-kept": "yes" },
    body: "hop",
  }));
  const miss = await edge.get("/api/products/hop");
  assert.equal(miss.headers.get("x-foo"), null);
  assert.equal(miss.headers.get("keep-alive"), null);
  assert.equal(miss.headers.get("x-kept"), "yes");
  const copy = await edge.stored(`${HOST}/api/products/hop`);
  assert.equal(copy.headers.get("x-foo"), null);
  assert.equal(copy.headers.get("connection"), null);
  const hit = await edge.get("/api/products/hop");
  assert.match(ownStatus(hit.headers), /hit/);
  assert.equal(hit.headers.get("x-foo"), null);
});

test("CDN-Cache-Control max-age=300 with Cache-Control max-age=0 is kept 300 s and the viewer gets max-age=0, no s-maxage", async () => {
  origin.on("/cdn/a", () => ({ headers: { "cache-control": "max-age=0", "cdn-cache-control": "max-age=300" }, body: "a" }));
  const miss = await edge.get("/cdn/a");
  assert.equal(miss.headers.get("cache-control"), "public, max-age=0, stale-while-revalidate=300, stale-if-error=86400");
  assert.equal(miss.headers.get("cdn-cache-control"), "max-age=300", "forwarded downstream (RFC 9213 §3)");
  const copy = await edge.stored(`${HOST}/cdn/a`);
  assert.equal(copy.headers.get("x-edge-cache-control"), "public, max-age=0, s-maxage=300, stale-while-revalidate=300, stale-if-error=86400");
  const hit = await edge.get("/cdn/a");
  assert.ok([299, 300].includes(ttlOf(hit)), ownStatus(hit.headers));
  assert.equal(hit.headers.get("cache-control"), miss.headers.get("cache-control"));
  for (const h of PRIVATE_HEADERS) assert.equal(hit.headers.get(h), null, h);
  // Cloudflare's own field comes first on the Worker's target list.
  origin.on("/cdn/b", () => ({
    headers: { "cdn-cache-control": "max-age=60", "cloudflare-cdn-cache-control": "max-age=600" },
    body: "b",
  }));
  await edge.get("/cdn/b");
  await edge.stored(`${HOST}/cdn/b`);
  assert.ok([599, 600].includes(ttlOf(await edge.get("/cdn/b"))));
  assert.equal(origin.count("/cdn/a") + origin.count("/cdn/b"), 2);
});

test("CDN-Cache-Control max-age=300 never makes a private, no-store, Set-Cookie, credentialed, Vary-outside-the-key or 5xx answer cacheable", async () => {
  const cdn = { "cdn-cache-control": "max-age=300" };
  const cases = [
    ["private", { "cache-control": "private, max-age=60", ...cdn }, {}, 200],
    ["no-store", { "cache-control": "no-store", ...cdn }, {}, 200],
    ["set-cookie", { "set-cookie": "s=1", ...cdn }, {}, 200],
    ["credential", { ...cdn }, { authorization: "Bearer user-7" }, 200],
    ["vary", { vary: "X-Tenant", ...cdn }, {}, 200],
    ["5xx", { "cache-control": "public, s-maxage=60", ...cdn }, {}, 503],
    ["cdn-no-store", { "cdn-cache-control": "max-age=300, no-store" }, {}, 200],
  ];
  for (const [label, headers, request, status] of cases) {
    const path = `/api/products/never-${label}`;
    origin.on(path, () => ({ status, headers, body: label }));
    for (let i = 0; i < 2; i++) {
      const res = await edge.get(path, { headers: request });
      assert.match(res.headers.get("cache-control"), /private|no-store/, `${label}: ${res.headers.get("cache-control")}`);
      assert.equal(res.headers.get("cdn-cache-control"), null, `${label}: no downstream CDN reads a looser instruction`);
      assert.doesNotMatch(ownStatus(res.headers), /hit|; stored/, label);
    }
    assert.equal(origin.count(path), 2, `${label}: never stored`);
    assert.equal(await edge.storedNow(`${HOST}${path}`), undefined, label);
  }
});
