// End to end through the real origin binary: `make run-workers` as a user runs it
// (scripts/run-workers.mjs: local-edge --function-url-only with dynalite, seeded tables and the
// origin binary, and the built Worker in miniflare), on free loopback ports. Then SIGTERM: it
// stops, and no process it started is left.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { test } from "node:test";
import { ROOT, ownStatus, until } from "./harness.mjs";
import { alive, descendants } from "../proc.mjs";

const target = process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target");
const bins = {
  localEdge: process.env.LOCAL_EDGE_BIN ?? path.join(target, "debug/local-edge"),
  origin: process.env.ORIGIN_BIN ?? path.join(target, "debug/origin-function"),
  seed: process.env.SEED_BIN ?? path.join(target, "debug/seed"),
};

test("make run-workers: curl through the Worker to the real origin, then SIGTERM leaves nothing behind", async (t) => {
  for (const bin of Object.values(bins)) assert.ok(existsSync(bin), `${bin} is missing: cargo build --bins`);
  const logDir = mkdtempSync(path.join(os.tmpdir(), "run-workers-"));
  t.after(() => rmSync(logDir, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, "scripts/run-workers.mjs"),
      ...["--port", "0", "--products", "50", "--environments", "1", "--log-dir", logDir],
      ...["--local-edge", bins.localEdge, "--origin-bin", bins.origin, "--seed-bin", bins.seed],
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const urls = {};
  const lines = readline.createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    const m = line.match(/^(function URL|worker):\s+(\S+)/);
    if (m) urls[m[1]] = m[2];
  });
  await until(() => urls.worker && urls["function URL"], { timeoutMs: 120_000, what: "both URLs printed" });
  const worker = urls.worker;

  // Tracking variants share one entry, through the real origin.
  const miss = await fetch(`${worker}/api/products/7?utm_source=x`);
  const product = await miss.text();
  assert.equal(miss.status, 200, product);
  assert.match(ownStatus(miss.headers), /^cf-worker; fwd=miss; fwd-status=200; stored$/);
  assert.match(miss.headers.get("cache-status"), /^origin; /, "the origin's member comes first");
  const hit = await until(async () => {
    const res = await fetch(`${worker}/api/products/7?fbclid=y`);
    const body = await res.text();
    return ownStatus(res.headers).startsWith("cf-worker; hit") && { res, body };
  }, { what: "the variant served from the stored copy" });
  assert.equal(hit.body, product);
  assert.ok(Number(hit.res.headers.get("age")) >= 0);

  // Private routes: the origin knows the viewer, nothing is stored.
  for (let i = 0; i < 2; i++) {
    const me = await fetch(`${worker}/api/me`, { headers: { authorization: "Bearer user-7" } });
    const body = await me.text();
    assert.equal(me.status, 200, body);
    assert.match(body, /user7@example\.com/);
    assert.equal(me.headers.get("cache-control"), "private, no-store");
    assert.match(ownStatus(me.headers), /fwd=bypass; detail=private-route/);
  }
  const anonymous = await fetch(`${worker}/api/me`);
  assert.equal(anonymous.status, 401);

  // The function URL itself refuses a request without the secret the Worker sends.
  const direct = await fetch(`${urls["function URL"]}/api/products/7`);
  assert.equal(direct.status, 403);

  // SIGTERM: it stops, and so does everything below it.
  const below = descendants(child.pid);
  assert.ok(below.length >= 3, `local-edge, dynalite, workerd, origin…: ${below}`);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.kill("SIGTERM");
  const status = await exited;
  // 128 + SIGTERM: miniflare's exit hook stops workerd and exits so; local-edge gets SIGTERM.
  assert.ok(status.code === 143 || status.code === 0, JSON.stringify(status));
  await until(() => below.every((pid) => !alive(pid)), {
    timeoutMs: 15_000,
    what: `no process left of ${below.join(", ")}`,
  });
});
