// scripts/reap-after, which `make test` runs every suite under: what a run leaves behind is
// found (even a process that started its own session, or whose parent exited), stopped, named,
// and turns a passing run red; a run that fails keeps its own exit code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { alive } from '../proc.mjs';

const REAP = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'reap-after');

const run = (script) => spawnSync(REAP, ['bash', '-c', script], { encoding: 'utf8', timeout: 30000 });

test('a clean run keeps its status', () => {
  assert.equal(run('exit 0').status, 0);
  assert.equal(run('exit 7').status, 7);
});

test('a process in its own session, and an orphan, are stopped and fail the run', () => {
  // Both print their pid, then outlive the command; their output is not the run's pipe.
  const r = run('setsid sleep 300 >/dev/null 2>&1 & echo $!; (sleep 301 >/dev/null 2>&1 & echo $!); exit 0');
  const pids = r.stdout.trim().split('\n').map(Number);
  assert.equal(pids.length, 2, r.stdout);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /left 2 process\(es\) running/);
  for (const pid of pids) {
    assert.match(r.stderr, new RegExp(` ${pid}:sleep`));
    assert.equal(alive(pid), false, `${pid} still runs`);
  }
});

test('a failed run that also leaks keeps its own status', () => {
  const r = run('sleep 302 >/dev/null 2>&1 & exit 4');
  assert.equal(r.status, 4);
  assert.match(r.stderr, /left 1 process\(es\) running/);
});

test('nothing outside the run is touched', () => {
  const outside = spawnSync('bash', ['-c', 'sleep 303 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
  const pid = Number(outside.stdout.trim());
  try {
    assert.equal(run('exit 0').status, 0);
    assert.equal(alive(pid), true);
  } finally {
    process.kill(pid, 'SIGKILL');
  }
});

test('a run past REAP_DEADLINE is stopped, whole, and fails with 124', () => {
  const started = Date.now();
  const r = spawnSync(REAP, ['bash', '-c', 'sleep 304 >/dev/null 2>&1 & echo $!; sleep 305; echo never'], {
    encoding: 'utf8', timeout: 30000, env: { ...process.env, REAP_DEADLINE: '1' },
  });
  assert.equal(r.status, 124, r.stderr);
  assert.ok(Date.now() - started < 10000, `stopped after ${Date.now() - started} ms`);
  assert.doesNotMatch(r.stdout, /never/);
  assert.match(r.stderr, /still running after 1 s; stopping:.*:sleep/);
  assert.equal(alive(Number(r.stdout.trim())), false);
});

test('a run inside REAP_DEADLINE leaves no watchdog behind', () => {
  const r = spawnSync(REAP, ['bash', '-c', 'exit 0'], { encoding: 'utf8', env: { ...process.env, REAP_DEADLINE: '306' } });
  assert.equal(r.status, 0, r.stderr);
  const left = spawnSync('pgrep', ['-f', '^sleep 306$'], { encoding: 'utf8' });
  assert.equal(left.stdout, '', 'the watchdog sleep outlived the run');
});
