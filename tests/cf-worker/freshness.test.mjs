// What a stored copy may do (workers.md steps 4, 6, 7): the storage line and the private
// freshness headers, stale-while-revalidate (served at once, revalidated exactly once),
// stale-if-error (a 503, a refused connection, a timeout), HEAD from the GET entry, and one
// Cache-Control with no private header for every kind of answer.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CountingOrigin, Edge, PRIVATE_HEADERS, gate, ownStatus, until } from "./harness.mjs";

const HOST = "https://api.example.com";
let origin;
let edge;

before(async () => {
  origin = await CountingOrigin.start();
  // Short enough for the timeout test, long enough for a loaded machine's loopback.
  edge = await Edge.start({ origin, timeoutMs: 1500 });
});

after(async () => {
  await edge?.stop();
  await origin?.stop();
});

function assertViewerHeaders(res, label) {
  const cc = res.headers.get("cache-control");
  assert.ok(cc, `${label}: a Cache-Control`);
  // `Headers.get` joins repeated lines with ", ": one line means no directive appears twice.
  const names = cc.split(",").map((d) => d.trim().split("=")[0]);
  assert.equal(new Set(names).size, names.length, `${label}: one Cache-Control, got ${cc}`);
  for (const h of PRIVATE_HEADERS) assert.equal(res.headers.get(h), null, `${label}: ${h} leaked`);
}

test("a copy is stored for its whole usable life and carries the policy's facts privately", async () => {
  origin.on("/api/products/life", () => ({ body: "life" }));
  const res = await edge.get("/api/products/life");
  assert.equal(
    res.headers.get("cache-control"),
    "public, max-age=60, s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400",
  );
  const copy = await edge.stored(`${HOST}/api/products/life`);
  assert.equal(copy.headers.get("cache-control"), "public, s-maxage=86700");
  assert.equal(copy.headers.get("x-edge-cache-control"), res.headers.get("cache-control"));
  assert.match(copy.headers.get("x-edge-stored-at"), /^\d{13}$/);
  const hit = await edge.get("/api/products/life");
  // Aged from the origin's Date (whole seconds, RFC 9111 §4.2.3): a loaded machine takes a few.
  assert.match(ownStatus(hit.headers), /^cf-worker; hit; ttl=(29[5-9]|300)$/);
  assert.match(hit.headers.get("age"), /^[0-5]$/);
  assertViewerHeaders(hit, "hit");
});

test("stale-while-revalidate serves the stale copy at once and revalidates exactly once", async () => {
  const release = gate();
  origin.on("/api/products/swr", async (r) => {
    if (r.n === 1) {
      return { headers: { "cache-control": "public, s-maxage=0, stale-while-revalidate=600", etag: '"v1"' }, body: "v1" };
    }
    // The revalidation: held until the test has sent every request.
    await release.passed;
    return { headers: { "cache-control": "public, s-maxage=0, stale-while-revalidate=600", etag: '"v2"' }, body: "v2" };
  });
  await edge.get("/api/products/swr");
  await edge.stored(`${HOST}/api/products/swr`);
  // s-maxage=0: stale at once. Twelve concurrent viewers, while the revalidation is held.
  const answers = await Promise.all(Array.from({ length: 12 }, () => edge.get("/api/products/swr")));
  for (const res of answers) {
    assert.equal(res.body, "v1");
    assert.match(ownStatus(res.headers), /^cf-worker; fwd=stale; ttl=-?\d+; detail=revalidati/);
    assertViewerHeaders(res, "stale");
  }
  const started = answers.filter((res) => ownStatus(res.headers).endsWith("detail=revalidating"));
  assert.equal(started.length, 1, "exactly one request starts the revalidation");
  await until(() => origin.count("/api/products/swr") === 2, { what: "the one revalidation" });
  assert.equal(origin.seen("/api/products/swr")[1].headers["if-none-match"], '"v1"');
  release.open();
  // 200 replaces the copy.
  await until(async () => (await edge.storedNow(`${HOST}/api/products/swr`))?.body === "v2", { what: "v2 stored" });
  assert.equal(origin.count("/api/products/swr"), 2);
  assert.equal((await edge.get("/api/products/swr")).body, "v2");
});

test("a 304 to the revalidation refreshes the stored copy's headers and keeps its body", async () => {
  origin.on("/api/products/refresh", (r) =>
    r.headers["if-none-match"] === '"r1"'
      ? { status: 304, headers: { etag: '"r1"', "x-version": "2" } }
      : {
          headers: { "cache-control": "public, s-maxage=0, stale-while-revalidate=600", etag: '"r1"', "x-version": "1" },
          body: "body-1",
        },
  );
  await edge.get("/api/products/refresh");
  const first = await edge.stored(`${HOST}/api/products/refresh`);
  const stale = await edge.get("/api/products/refresh");
  assert.match(ownStatus(stale.headers), /detail=revalidating/);
  const refreshed = await until(async () => {
    const copy = await edge.storedNow(`${HOST}/api/products/refresh`);
    return copy?.headers.get("x-version") === "2" && copy;
  }, { what: "the 304 refresh" });
  assert.equal(refreshed.body, "body-1");
  // Kept for max(stale-while-revalidate=600, the route's stale-if-error=86400), plus an hour
  // for its validator.
  assert.equal(refreshed.headers.get("cache-control"), "public, s-maxage=90000");
  assert.ok(Number(refreshed.headers.get("x-edge-stored-at")) >= Number(first.headers.get("x-edge-stored-at")));
  assert.equal(origin.count("/api/products/refresh"), 2);
});

const sieHeaders = { "cache-control": "public, s-maxage=0, stale-while-revalidate=0, stale-if-error=600", etag: '"s1"' };

test("stale-if-error serves the stale copy on a 503 and on a timeout, and passes a fresh answer on", async () => {
  let mode = "ok";
  const hold = gate();
  origin.on("/api/products/sie", async (r) => {
    if (r.n === 1) return { headers: sieHeaders, body: "good" };
    if (mode === "503") return { status: 503, headers: { "cache-control": "public, max-age=60" }, body: "down" };
    if (mode === "501") return { status: 501, body: "not implemented" };
    if (mode === "hang") {
      await hold.passed;
      return { status: 503, body: "late" };
    }
    return { headers: sieHeaders, body: "new" };
  });
  await edge.get("/api/products/sie");
  await edge.stored(`${HOST}/api/products/sie`);

  mode = "503";
  const on503 = await edge.get("/api/products/sie");
  assert.equal(on503.status, 200);
  assert.equal(on503.body, "good");
  assert.match(ownStatus(on503.headers), /^cf-worker; fwd=stale; ttl=-?\d+; fwd-status=503$/);
  assertViewerHeaders(on503, "stale-if-error");

  mode = "501";
  const on501 = await edge.get("/api/products/sie");
  assert.equal(on501.body, "good");
  assert.match(ownStatus(on501.headers), /fwd-status=501$/);

  mode = "hang";
  const onTimeout = await edge.get("/api/products/sie");
  hold.open();
  assert.equal(onTimeout.body, "good");
  assert.match(ownStatus(onTimeout.headers), /detail=origin-timeout$/);

  // The 503 was never stored over the good copy.
  assert.equal((await edge.storedNow(`${HOST}/api/products/sie`)).body, "good");

  mode = "ok";
  const recovered = await edge.get("/api/products/sie");
  assert.equal(recovered.body, "new");
  assert.match(ownStatus(recovered.headers), /^cf-worker; fwd=stale; fwd-status=200; stored$/);
});

test("with no stale copy, a 503 is passed on unstored and a dead origin gets the Worker's 502", async () => {
  origin.on("/api/products/down", (r) => ({
    status: 503,
    // Even an origin that calls its 503 shareable never gets it stored.
    headers: r.n === 1 ? {} : { "cache-control": "public, s-maxage=600" },
    body: "down",
  }));
  for (let i = 0; i < 3; i++) {
    const res = await edge.get("/api/products/down");
    assert.equal(res.status, 503);
    if (i === 0) assert.equal(res.headers.get("cache-control"), "no-store");
    assert.match(ownStatus(res.headers), /fwd=miss; fwd-status=503; detail=not-stored-server-error/);
  }
  assert.equal(origin.count("/api/products/down"), 3);
  assert.equal(await edge.storedNow(`${HOST}/api/products/down`), undefined);
  origin.on("/api/products/reset", () => "destroy");
  const reset = await edge.get("/api/products/reset");
  assert.equal(reset.status, 502);
  assert.equal(reset.headers.get("cache-control"), "no-store");
  assert.equal(ownStatus(reset.headers), "cf-worker; fwd=miss; detail=origin-unreachable");
});

test("HEAD is answered from the GET entry, and a HEAD miss fetches and stores the GET", async () => {
  origin.on("/api/products/head", (r) => ({ headers: { "content-type": "text/plain" }, body: `${r.method} body` }));
  const head = await edge.fetch("/api/products/head", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  assert.match(ownStatus(head.headers), /fwd=miss; fwd-status=200; stored/);
  assert.deepEqual(origin.seen("/api/products/head").map((r) => r.method), ["GET"]);
  assert.equal((await edge.stored(`${HOST}/api/products/head`)).body, "GET body");
  const get = await edge.get("/api/products/head");
  assert.equal(get.body, "GET body");
  assert.match(ownStatus(get.headers), /hit/);
  const head2 = await edge.fetch("/api/products/head", { method: "HEAD" });
  assert.equal(await head2.text(), "");
  assert.match(ownStatus(head2.headers), /hit/);
  assert.equal(origin.count("/api/products/head"), 1);
  // A bypassed HEAD stays a HEAD.
  origin.on("/api/me", (r) => ({ body: r.method }));
  await edge.fetch("/api/me", { method: "HEAD" });
  assert.equal(origin.seen("/api/me").at(-1).method, "HEAD");
});

test("one Cache-Control and no private freshness header, whatever the origin plants", async () => {
  const planted = {
    "cache-control": ["public, max-age=5", "s-maxage=7, max-age=9"],
    "x-edge-stored-at": "99999999999999",
    "x-edge-cache-control": "public, s-maxage=31536000",
  };
  origin.on("/api/products/planted", () => ({ headers: planted, body: "p" }));
  origin.on("/api/me", () => ({ headers: planted, body: "me" }));
  const miss = await edge.get("/api/products/planted");
  assert.equal(miss.headers.get("cache-control"), "public, max-age=5, s-maxage=7, stale-while-revalidate=86400, stale-if-error=86400");
  assertViewerHeaders(miss, "miss");
  const copy = await edge.stored(`${HOST}/api/products/planted`);
  // The Worker's own facts, never the origin's.
  assert.equal(copy.headers.get("x-edge-cache-control"), miss.headers.get("cache-control"));
  assert.notEqual(copy.headers.get("x-edge-stored-at"), planted["x-edge-stored-at"]);
  assertViewerHeaders(await edge.get("/api/products/planted"), "hit");
  const bypass = await edge.get("/api/me");
  assertViewerHeaders(bypass, "bypass");
  assert.equal(bypass.headers.get("cache-control"), "private, no-store");
});
