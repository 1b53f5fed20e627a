// Failures (workers.md step 4 and "Never"): an origin that refuses connections behind a
// stale-if-error copy; the glue itself failing (the Cache API broken under it) forwards the
// request unchanged to the origin; a Worker without its origin never throws.

import assert from "node:assert/strict";
import { test } from "node:test";
import { CountingOrigin, Edge, SECRET, ownStatus } from "./harness.mjs";

test("stale-if-error serves the stale copy when the origin refuses connections", async (t) => {
  const origin = await CountingOrigin.start();
  const edge = await Edge.start({ origin });
  t.after(async () => {
    await edge.stop();
    await origin.stop();
  });
  origin.on("/api/products/refused", (r) => ({
    headers: { "cache-control": "public, s-maxage=0, stale-while-revalidate=0, stale-if-error=600" },
    body: `answer ${r.n}`,
  }));
  await edge.get("/api/products/refused");
  await edge.stored("https://api.example.com/api/products/refused");

  await origin.stop();
  const stale = await edge.get("/api/products/refused");
  assert.equal(stale.status, 200);
  assert.equal(stale.body, "answer 1");
  assert.match(ownStatus(stale.headers), /^cf-worker; fwd=stale; ttl=-?\d+; detail=origin-unreachable$/);

  // Back on the same port: the next request gets the origin's answer again.
  await origin.listen();
  const fresh = await edge.get("/api/products/refused");
  assert.equal(fresh.body, "answer 2");
});

test("an internal failure forwards the request unchanged to the origin", async (t) => {
  const origin = await CountingOrigin.start();
  // The Cache API breaks under the Worker: every match and put rejects.
  const prelude = `
    const broken = {
      match: () => Promise.reject(new Error("cache unavailable")),
      put: () => Promise.reject(new Error("cache unavailable")),
    };
    Object.defineProperty(globalThis, "caches", { value: { default: broken }, configurable: true });
  `;
  const edge = await Edge.start({ origin, prelude });
  t.after(async () => {
    await edge.stop();
    await origin.stop();
  });
  origin.on("/api/products/1", () => ({
    headers: { "cache-control": "public, max-age=60", "x-edge-stored-at": "1" },
    body: "from the origin",
  }));
  for (let i = 0; i < 2; i++) {
    const res = await edge.get("/api/products/1?utm_source=x&b=2", { headers: { "x-origin-verify": "guessed" } });
    assert.equal(res.status, 200);
    assert.equal(res.body, "from the origin");
    assert.equal(ownStatus(res.headers), "cf-worker; fwd=request; detail=internal-error");
    assert.equal(res.headers.get("x-edge-stored-at"), null);
  }
  const seen = origin.seen("/api/products/1");
  assert.equal(seen.length, 2, "nothing is served from a cache");
  // Unchanged: the query as the viewer sent it; the Worker's secret, not the viewer's.
  assert.equal(seen[0].query, "utm_source=x&b=2");
  assert.equal(seen[0].headers["x-origin-verify"], SECRET);
});

test("a Worker without ORIGIN_URL answers 502 no-store and never throws", async (t) => {
  const edge = await Edge.start({ originUrl: "" });
  t.after(() => edge.stop());
  const res = await edge.get("/api/products/1");
  assert.equal(res.status, 502);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(ownStatus(res.headers), "cf-worker; fwd=request; detail=internal-error");
});
