#!/usr/bin/env node
// `make run-workers`: the origin stack of `make run` (dynalite, seeded tables, the real origin
// binary behind a local Lambda Runtime API) exposed as a Lambda function URL on loopback
// (`local-edge --function-url-only`), and the BUILT Cloudflare Worker (cf-worker/build) served
// by miniflare in front of it. Prints both URLs; Ctrl-C, SIGTERM, SIGHUP or the parent going
// away stops everything it started (exit status 128+signal after a signal, as miniflare exits).
//
// Options: --port P (the Worker, default 8787; 0 picks a free one), --host H (127.0.0.1),
// --local-edge BIN, --origin-bin BIN, --seed-bin BIN, --products N, --environments N,
// --build DIR (the Worker bundle), --log-dir DIR.

import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Log, LogLevel, Miniflare } from "miniflare";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const target = process.env.CARGO_TARGET_DIR ?? path.join(root, "target");

function options(argv) {
  const opts = {
    port: 8787,
    host: "127.0.0.1",
    localEdge: path.join(target, "debug/local-edge"),
    originBin: path.join(target, "debug/origin-function"),
    seedBin: path.join(target, "debug/seed"),
    products: "10000",
    environments: "2",
    build: path.join(root, "cf-worker/build"),
    logDir: path.join(target, "local-edge"),
  };
  const names = {
    "--port": "port",
    "--host": "host",
    "--local-edge": "localEdge",
    "--origin-bin": "originBin",
    "--seed-bin": "seedBin",
    "--products": "products",
    "--environments": "environments",
    "--build": "build",
    "--log-dir": "logDir",
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = names[argv[i]];
    if (!name || argv[i + 1] === undefined) {
      console.error(`run-workers: unknown or incomplete option ${argv[i]}`);
      process.exit(2);
    }
    opts[name] = argv[i + 1];
  }
  opts.port = Number(opts.port);
  return opts;
}

/**
 * Starts `local-edge --function-url-only` and resolves with its URL and secret. Its stdout
 * goes to a file, not a pipe: it prints on the way out too, when this process may be gone
 * (a closed pipe would fail it). The file is unlinked once read; later lines go nowhere.
 */
function startFunctionUrl(opts) {
  const outDir = mkdtempSync(path.join(os.tmpdir(), "run-workers-"));
  const outPath = path.join(outDir, "local-edge.out");
  const out = openSync(outPath, "w");
  const child = spawn(
    opts.localEdge,
    [
      "--function-url-only",
      "--listen",
      "127.0.0.1:0",
      "--origin-bin",
      opts.originBin,
      "--seed-bin",
      opts.seedBin,
      "--products",
      opts.products,
      "--environments",
      opts.environments,
      "--log-dir",
      opts.logDir,
    ],
    { cwd: root, stdio: ["ignore", out, "inherit"] },
  );
  closeSync(out);
  return new Promise((resolve, reject) => {
    let exited = false;
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      exited = true;
      reject(new Error(`local-edge exited (${code ?? signal}) before serving; see ${outPath}`));
    });
    const poll = setInterval(() => {
      const text = readFileSync(outPath, "utf8");
      const url = text.match(/function URL: (\S+)/);
      const secret = text.match(/X-Origin-Verify: (\S+)/);
      if ((url && secret) || exited) {
        clearInterval(poll);
        rmSync(outDir, { recursive: true, force: true });
      }
      if (url && secret) resolve({ child, url: url[1], secret: secret[1] });
    }, 50);
  });
}

/** The built Worker in miniflare on `host:port`, its origin the function URL. */
async function serveWorker(opts, origin) {
  const mf = new Miniflare({
    modules: [
      { type: "ESModule", path: path.join(opts.build, "index.js") },
      { type: "CompiledWasm", path: path.join(opts.build, "index_bg.wasm") },
    ],
    modulesRoot: opts.build,
    compatibilityDate: "2026-04-01",
    cache: true,
    // The Request.cf placeholder: fetching the real one needs the internet.
    cf: false,
    host: opts.host,
    port: opts.port,
    log: new Log(LogLevel.INFO),
    bindings: { ORIGIN_URL: origin.url, ORIGIN_VERIFY_SECRET: origin.secret },
  });
  await mf.ready;
  return mf;
}

async function main() {
  const opts = options(process.argv.slice(2));
  console.log("starting the origin as a function URL: dynalite, seeding, origin environments…");
  const origin = await startFunctionUrl(opts);
  // However this process ends (miniflare's own exit hook answers SIGINT/SIGTERM by disposing
  // workerd and exiting 128+signal before an async handler could run), the stack goes too:
  // local-edge stops dynalite and the origin environments on SIGTERM.
  process.on("exit", () => {
    if (origin.child.exitCode === null) origin.child.kill("SIGTERM");
  });
  let mf;
  try {
    mf = await serveWorker(opts, origin);
  } catch (e) {
    origin.child.kill("SIGTERM");
    throw e;
  }
  const workerUrl = (await mf.ready).toString().replace(/\/$/, "");

  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    console.log("stopping…");
    await mf.dispose().catch(() => {});
    if (origin.child.exitCode === null) {
      const exited = new Promise((resolve) => origin.child.once("exit", resolve));
      origin.child.kill("SIGTERM");
      await exited;
    }
    process.exit(code);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => stop(0));
  origin.child.once("exit", () => {
    if (!stopping) {
      console.error("run-workers: the origin stack stopped");
      stop(1);
    }
  });
  // `make` killed: nothing may outlive it.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop(0);
  }, 500).unref();

  console.log();
  console.log(`function URL: ${origin.url}   (the origin alone; it checks X-Origin-Verify)`);
  console.log(`worker:       ${workerUrl}   (the built cf-worker in miniflare, ORIGIN_URL = the function URL)`);
  console.log();
  console.log(`  curl -i '${workerUrl}/api/products/42?utm_source=x'     # cf-worker; fwd=miss; … stored`);
  console.log(`  curl -i '${workerUrl}/api/products/42?fbclid=y'         # cf-worker; hit: one entry`);
  console.log(`  curl -i '${workerUrl}/api/me' -H 'Authorization: Bearer user-7'   # cf-worker; fwd=bypass`);
  console.log();
  console.log("Ctrl-C stops everything.");
}

main().catch((e) => {
  console.error(`run-workers: ${e.message}`);
  process.exit(1);
});
