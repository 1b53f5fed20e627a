// What shares an entry and what never does (workers.md steps 1-3, 5; "Never"): the built
// Worker in miniflare against a counting origin.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CountingOrigin, Edge, SECRET, ownStatus } from "./harness.mjs";

let origin;
let edge;

before(async () => {
  origin = await CountingOrigin.start();
  edge = await Edge.start({ origin });
});

after(async () => {
  await edge?.stop();
  await origin?.stop();
});

const plain = (body) => () => ({ headers: { "content-type": "text/plain", etag: '"e1"' }, body });

test("tracking and reordered variants of one product cost one origin request", async () => {
  origin.on("/api/products", plain("list"));
  const variants = [
    "/api/products?category=books&sort=price",
    "/api/products?sort=price&category=books&utm_source=news",
    "/api/products?fbclid=abc&category=books&sort=price&gclid=1",
    "/api/products?UTM_Medium=x&sort=price&category=books&utm%5Fcampaign=y",
    "/api/products?category=books&sort=price&page_tracking_not_allowed=1",
  ];
  const statuses = [];
  for (const [i, v] of variants.entries()) {
    if (i === 1) {
      const copy = await edge.stored("https://api.example.com/api/products?category=books&sort=price");
      assert.equal(copy.body, "list");
    }
    const res = await edge.get(v);
    assert.equal(res.status, 200);
    assert.equal(res.body, "list");
    statuses.push(ownStatus(res.headers));
  }
  assert.equal(origin.count("/api/products"), 1, statuses.join(" | "));
  assert.match(statuses[0], /fwd=miss; fwd-status=200; stored/);
  for (const s of statuses.slice(1)) assert.match(s, /^cf-worker; hit; ttl=\d+/);
  // What the origin got is the canonical request: sorted, allow-listed, no tracking.
  assert.equal(origin.seen("/api/products")[0].query, "category=books&sort=price");
});

test("private routes and the viewer's credential are never stored, and the origin gets the credential", async () => {
  origin.on("/api/me", (r) => ({ body: `me:${r.headers.authorization ?? "anon"}` }));
  origin.on("/api/users/7", (r) => ({ body: `user7:${r.headers.authorization ?? "anon"}` }));
  origin.on("/api/products/77", (r) => ({
    headers: { "cache-control": "max-age=60" },
    body: `product:${r.headers.authorization ?? "anon"}`,
  }));
  const paths = ["/api/me", "/API/ME", "/api/me;x.css", "/api/me/x.css", "/api/users/7"];
  for (const p of paths) {
    const before = origin.requests.length;
    for (let i = 0; i < 2; i++) {
      const res = await edge.get(p, { headers: { authorization: `Bearer user-${i}` } });
      assert.equal(res.headers.get("cache-control"), "private, no-store", p);
      assert.match(ownStatus(res.headers), /fwd=bypass; detail=private-route/, p);
    }
    assert.equal(origin.requests.length - before, 2, `${p} must reach the origin every time`);
  }
  assert.equal(origin.seen("/api/me")[0].headers.authorization, "Bearer user-0");

  // A public route with Authorization: bypassed, and the next anonymous viewer is not served it.
  const authed = await edge.get("/api/products/77", { headers: { authorization: "Bearer user-1" } });
  assert.equal(authed.body, "product:Bearer user-1");
  assert.match(ownStatus(authed.headers), /fwd=bypass; detail=credential/);
  assert.equal(authed.headers.get("cache-control"), "private, no-store");
  const anon = await edge.get("/api/products/77");
  assert.equal(anon.body, "product:anon");
  assert.match(ownStatus(anon.headers), /fwd=miss/);
  assert.equal(origin.count("/api/products/77"), 2);
});

test(
  "on a bypass the viewer's Authorization also travels as X-Viewer-Authorization, as at CloudFront",
  async () => {
    origin.on("/api/users/8", () => ({ body: "u8" }));
    await edge.get("/api/users/8", { headers: { authorization: "Bearer user-8", "x-viewer-authorization": "forged" } });
    assert.equal(origin.seen("/api/users/8").at(-1).headers["x-viewer-authorization"], "Bearer user-8");
  },
);

test("X-Forwarded-Host and the other unkeyed headers can't poison the entry", async () => {
  const unkeyed = {
    "x-forwarded-host": "evil.example",
    "x-host": "evil.example",
    forwarded: "host=evil.example",
    "x-original-url": "/admin",
    "x-rewrite-url": "/admin",
    "x-http-method-override": "DELETE",
    "x-forwarded-scheme": "http",
  };
  origin.on("/api/products/poison", (r) => {
    const reflected = Object.keys(unkeyed).filter((h) => r.headers[h] !== undefined);
    return { body: reflected.length ? `POISONED by ${reflected.join(",")}` : "clean" };
  });
  const attack = await edge.get("/api/products/poison", { headers: unkeyed });
  assert.equal(attack.body, "clean");
  assert.equal((await edge.stored("https://api.example.com/api/products/poison")).body, "clean");
  const victim = await edge.get("/api/products/poison");
  assert.equal(victim.body, "clean");
  assert.match(ownStatus(victim.headers), /hit/);
  for (const r of origin.seen("/api/products/poison")) {
    for (const h of Object.keys(unkeyed)) assert.equal(r.headers[h], undefined, h);
  }
});

test("a Set-Cookie answer is never stored unless the route strips it", async () => {
  origin.on("/api/products/cookie", () => ({ headers: { "set-cookie": "session=abc; Path=/" }, body: "with cookie" }));
  for (let i = 0; i < 2; i++) {
    const res = await edge.get("/api/products/cookie");
    assert.equal(res.headers.get("cache-control"), "private, no-store");
    assert.match(ownStatus(res.headers), /fwd=miss; fwd-status=200; detail=not-stored-forbids-sharing/);
  }
  assert.equal(origin.count("/api/products/cookie"), 2);

  // /static/* strips Set-Cookie: stored, and no viewer ever gets the cookie.
  origin.on("/static/app.js", () => ({ headers: { "set-cookie": "session=abc" }, body: "js" }));
  const first = await edge.get("/static/app.js");
  const copy = await edge.stored("https://api.example.com/static/app.js");
  assert.equal(copy.headers.get("set-cookie"), null);
  const second = await edge.get("/static/app.js");
  for (const res of [first, second]) {
    assert.equal(res.headers.get("set-cookie"), null);
    assert.equal(res.body, "js");
  }
  assert.match(ownStatus(second.headers), /hit/);
  assert.equal(origin.count("/static/app.js"), 1);
});

test("the origin gets the Worker's secret, never a viewer's, and never the viewer's validators on a shared fetch", async () => {
  origin.on("/api/products/secret", plain("s"));
  await edge.get("/api/products/secret", {
    headers: { "x-origin-verify": "guessed", "if-none-match": '"e1"', cookie: "session=1", "user-agent": "ua" },
  });
  const [seen] = origin.seen("/api/products/secret");
  assert.equal(seen.headers["x-origin-verify"], SECRET);
  assert.equal(seen.headers["if-none-match"], undefined);
  assert.equal(seen.headers.cookie, undefined);
  // A bypass forwards the viewer's headers, but still never their secret header.
  origin.on("/api/me", () => ({ body: "me" }));
  await edge.get("/api/me", { headers: { "x-origin-verify": "guessed", cookie: "session=1" } });
  const me = origin.seen("/api/me").at(-1);
  assert.equal(me.headers["x-origin-verify"], SECRET);
  assert.equal(me.headers.cookie, "session=1");
});

test("methods other than GET and HEAD are forwarded with their body and never stored", async () => {
  origin.on("/api/products/post", (r) => ({ headers: { "cache-control": "public, max-age=600" }, body: `${r.method}` }));
  for (let i = 0; i < 2; i++) {
    const res = await edge.get("/api/products/post", { method: "POST", body: "payload" });
    assert.equal(res.body, "POST");
    assert.equal(ownStatus(res.headers), "cf-worker; fwd=method");
  }
  assert.equal(origin.count("/api/products/post"), 2);
  const get = await edge.get("/api/products/post");
  assert.match(ownStatus(get.headers), /fwd=miss/);
});
