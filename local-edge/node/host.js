'use strict';
// Hosts a Lambda@Edge package the way Lambda@Edge does: one long-lived Node process that
// `require`s the package's index.js once and calls `handler(event, context)` per event.
// Protocol on stdin/stdout: one JSON object per line, `{"id", "event"}` in and
// `{"id", "ok": true, "result"}` or `{"id", "ok": false, "error"}` out. The handler's own
// console output goes to stderr, as it would go to CloudWatch.

const path = require('node:path');
const readline = require('node:readline');
const util = require('node:util');

const write = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  console[level] = (...args) => process.stderr.write(util.format(...args) + '\n');
}

const pkg = path.resolve(process.argv[2]);
let handler;
try {
  handler = require(path.join(pkg, 'index.js')).handler;
} catch (err) {
  process.stderr.write(`cannot load ${pkg}/index.js: ${err && err.stack}\n`);
  process.exit(2);
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  let id = null;
  try {
    const msg = JSON.parse(line);
    id = msg.id;
    const context = { functionName: 'local-edge', awsRequestId: String(id) };
    const result = await handler(msg.event, context);
    write({ id, ok: true, result: result === undefined ? null : result });
  } catch (err) {
    write({ id, ok: false, error: String((err && err.stack) || err) });
  }
});
lines.on('close', () => process.exit(0));
write({ id: null, ok: true, result: 'ready' });
