// The test suites' one reading of /proc: which processes run, under which parent and process
// group. `/proc/<pid>/stat` is "pid (comm) state ppid pgrp ...", and comm may hold spaces or
// parentheses, so the fields are read after the last ")".
import { readdirSync, readFileSync } from 'node:fs';

/** state, ppid and pgrp of `pid`, or null when it is gone. */
export function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid, pgrp] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state, ppid: Number(ppid), pgrp: Number(pgrp) };
  } catch {
    return null; // Gone meanwhile.
  }
}

/** Whether `pid` runs (a zombie does not). */
export function alive(pid) {
  const s = stat(pid);
  return s !== null && s.state !== 'Z';
}

/** Every running process: pid → its stat. */
export function processes() {
  const all = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(entry);
    if (s && s.state !== 'Z') all.set(Number(entry), s);
  }
  return all;
}

/** Every running process below `pid`. */
export function descendants(pid) {
  const all = processes();
  const found = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.pop();
    for (const [child, { ppid }] of all) {
      if (ppid === p) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** The running processes whose process group is `pgid`. */
export function groupMembers(pgid) {
  return [...processes()].filter(([, s]) => s.pgrp === pgid).map(([pid]) => pid);
}
