'use strict';
// Starts dynalite (in memory) on 127.0.0.1 on a port the OS picks (or the one given), and
// prints `{"port": N}` once it listens: nothing can take the port between choosing and binding
// it, and the line proves the listener is this process. Ends when its stdin closes (the parent
// went away) or on SIGTERM/SIGKILL; exits 1 when it cannot listen.
// Usage: node dynalite.js <workspace root> [port]

const path = require('node:path');

const root = path.resolve(process.argv[2] || '.');
const dynalite = require(path.join(root, 'node_modules', 'dynalite'));
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.on('error', (err) => {
  process.stderr.write(`dynalite: ${err && err.stack}\n`);
  process.exit(1);
});
server.listen(Number(process.argv[3] || 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
