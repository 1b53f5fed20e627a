'use strict';
// Lambda@Edge entry point (`index.handler`). Thin glue only: it hands the policy core the
// strings it reads, applies the edits it answers with, and never throws. Every rule lives
// in Rust (edge-policy); the string protocol is documented in edge-worker/src/lib.rs and
// the raw boundary it crosses in edge-worker/src/raw.rs.

const fs = require('node:fs');

// One module per trigger (Makefile `wasm`): a trigger's cold start decodes and compiles only
// its own code.
const MODULES = {
  viewerRequest: `${__dirname}/pkg/viewer_request.wasm`, // Lambda runs Linux: `/` is the separator
  originResponse: `${__dirname}/pkg/origin_response.wasm`,
};

// The functions a cold start runs (at load and on the first event) are written as
// parenthesized function expressions, `const f = (function f() { … });`: V8 compiles those
// with the enclosing code instead of pre-parsing them and parsing them again at their first
// call, which cut ~0.7 ms (~9%) of a cold start (2026-11-29, 81 fresh `node`s each,
// interleaved). The rest (logging, reloads, origin-response) stay lazy.

const COLON = 58;
const BANG = 33;
const UNCHANGED = '=0:';

// The core over the raw boundary (edge-worker/src/raw.rs): each field is written as UTF-8
// straight into the module's memory (ASCII byte by byte, the rest by `Buffer#write`, which
// like `TextEncoder.encodeInto` turns a lone surrogate into U+FFFD; its field is marked
// `!`), and the answer is read from memory; `=0:` comes back as length 0 and is never built.
const rawCore = (function rawCore(exports, reads) {
  const memory = exports.memory;
  let bytes = Buffer.from(memory.buffer);
  let room = 1024;
  let base = exports.edge_input(room);
  let pos = 0; // bytes written since `base`

  // Memory growth detaches the old buffer (its view reads length 0): view it afresh.
  const view = (function view() {
    if (bytes.length === 0) bytes = Buffer.from(memory.buffer);
  });
  // Room for `extra` more bytes; a larger buffer keeps what was written (Vec::resize).
  const ensure = (function ensure(extra) {
    if (pos + extra > room) {
      room = Math.max(room * 2, pos + extra);
      base = exports.edge_input(room);
    }
    view();
  });
  const putNumber = (function putNumber(n) {
    if (n < 10) {
      bytes[base + pos++] = 48 + n;
      return;
    }
    const digits = String(n);
    for (let i = 0; i < digits.length; i++) bytes[base + pos++] = digits.charCodeAt(i);
  });
  // A field: `length:text`, the length in UTF-16 code units; `length!text` when the text
  // is not well-formed UTF-16; `0!` for a value that is not a string at all.
  const put = (function put(s) {
    if (typeof s !== 'string') {
      ensure(2);
      bytes[base + pos++] = 48;
      bytes[base + pos++] = BANG;
      return;
    }
    const n = s.length;
    ensure(n * 3 + 12);
    putNumber(n);
    const marker = base + pos++;
    bytes[marker] = COLON;
    const at = base + pos;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      bytes[at + i] = c;
    }
    pos += i;
    if (i < n) {
      pos += bytes.write(s.slice(i), base + pos, 'utf8');
      if (!s.isWellFormed()) bytes[marker] = BANG;
    }
  });
  const putUnreadable = (name) => {
    put(name);
    put(undefined);
  };

  // `name value` fields, one per value, of the headers in `names`, and (when
  // `unreadableToo`) of every header whose name or value holds a NUL or whose value is
  // unreadable: the core deletes those. The count; -1 for a missing or non-object map.
  const putHeaders = (function putHeaders(headers, names, unreadableToo) {
    if (headers === null || typeof headers !== 'object') return -1;
    let count = 0;
    const keys = Object.keys(headers);
    for (let k = 0; k < keys.length; k++) {
      const name = keys[k];
      const read = names[name] === true;
      const values = headers[name];
      if (!Array.isArray(values)) {
        if (read || unreadableToo) {
          putUnreadable(name);
          count++;
        }
        continue;
      }
      for (let i = 0; i < values.length; i++) {
        const entry = values[i];
        const value = entry !== null && typeof entry === 'object' ? entry.value : undefined;
        if (read) {
          put(name);
          put(value);
          count++;
        } else if (unreadableToo && (typeof value !== 'string' || value.indexOf('\0') !== -1 || !value.isWellFormed() ||
            name.indexOf('\0') !== -1)) {
          putUnreadable(name);
          count++;
        }
      }
    }
    return count;
  });

  // `utf8Slice` is the native half of `toString('utf8', …)`: without the JavaScript wrapper
  // (encoding lookup, bounds coercion), whose first run cost each cold start ~0.18 ms.
  const decode = typeof bytes.utf8Slice === 'function'
    ? (at, end) => bytes.utf8Slice(at, end)
    : (at, end) => bytes.toString('utf8', at, end);
  const answer = (function answer(length) {
    if (length === 0) return UNCHANGED;
    view();
    const at = exports.edge_answer();
    return decode(at, at + length);
  });

  // The viewer-request input, written from the buffer's start: its header count.
  const putViewerRequest = (function putViewerRequest(request) {
    pos = 0;
    put(request.method);
    put(request.uri);
    put(request.querystring);
    return putHeaders(request.headers, reads.viewerRequest, true);
  });

  const coreViewerRequest = (function coreViewerRequest(request) {
    const count = putViewerRequest(request);
    return answer(exports.edge_viewer_request(pos, count));
  });

  return {
    viewer_request: coreViewerRequest,
    // For the benchmark: the input bytes and header count of `request`, and the core call
    // alone on them (copied into memory, the call, the answer's length).
    encodeViewerRequest(request) {
      const count = putViewerRequest(request);
      return [Uint8Array.prototype.slice.call(bytes, base, base + pos), count];
    },
    callViewerRequest(input, count) {
      pos = 0;
      ensure(input.length);
      bytes.set(input, base);
      return exports.edge_viewer_request(input.length, count);
    },
    origin_response(request, response, nowMs) {
      pos = 0;
      put(request.method);
      put(request.uri);
      put(String(response.status));
      const requestCount = putHeaders(request.headers, reads.originResponseRequest, false);
      const count = putHeaders(response.headers, reads.originResponse, false);
      return answer(exports.edge_origin_response(pos, requestCount, count, nowMs));
    },
  };
});

// The compiled modules, kept across reloads: a trap spoils an instance's memory, never the
// code, so a reload only instantiates.
const compiled = { viewerRequest: null, originResponse: null };

// The header names each policy reads, as per-name decisions in prototype-less objects (one
// property load per header). edge-policy owns the lists and the core exports them
// (`edge_reads`); these are copies, because reading them out of the core at load cost every
// cold start ~0.35 ms of first-use Buffer and string work. tests/wasm-pkg checks each copy
// against the shipped module's own list.
const READS = {
  viewerRequest: {
    __proto__: null,
    'x-forwarded-host': true, 'x-host': true, 'x-forwarded-server': true, 'x-forwarded-scheme': true,
    'x-forwarded-port': true, 'x-original-url': true, 'x-rewrite-url': true, 'x-http-method-override': true,
    'x-http-method': true, 'x-method-override': true, forwarded: true, 'accept-encoding': true, cookie: true,
    authorization: true, 'x-viewer-authorization': true,
  },
  originResponse: {
    __proto__: null, 'cache-control': true, 'set-cookie': true, vary: true, expires: true, date: true, 'surrogate-key': true,
    'cdn-cache-control': true, 'cloudflare-cdn-cache-control': true,
  },
  originResponseRequest: { __proto__: null, authorization: true, 'x-viewer-authorization': true },
};

// A fresh instance of `trigger`'s core.
const load = (function load(trigger) {
  const module = compiled[trigger] || (compiled[trigger] = new WebAssembly.Module(fs.readFileSync(MODULES[trigger])));
  // The modules import nothing (`make wasm` builds them without wasm-bindgen); one that did
  // fails here, loudly, with a LinkError, rather than half-working.
  const exports = new WebAssembly.Instance(module, {}).exports;
  return { core: rawCore(exports, READS), exports };
});

// The viewer-request core loads with the package: every request runs it, and a package that
// cannot load it fails at init, loudly. The origin-response core loads at its first event
// (never, with the template's OriginResponseTrigger=off); should it fail to load, that event's
// response passes unchanged and the failure is logged (`handle`).
const loaded = { viewerRequest: load('viewerRequest'), originResponse: null };
const coreFor = (trigger) => (loaded[trigger] || (loaded[trigger] = load(trigger))).core;

function log(fields) {
  console.log(JSON.stringify(Object.assign({ level: 'error', msg: 'edge handler left the input unchanged' }, fields)));
}

// Reading the answer: `at` is the cursor, `next` returns the field there and moves past it.
let at = 0;
const next = (function next(answer) {
  let units = 0;
  let c;
  while (at < answer.length && (c = answer.charCodeAt(at++)) !== COLON) units = units * 10 + (c - 48);
  const text = answer.slice(at, at + units);
  at += units;
  return text;
});

// Applies `-name` / `+name key value` edits from the cursor to the end.
const applyEdits = (function applyEdits(headers, answer) {
  while (at < answer.length) {
    const op = answer.charCodeAt(at++);
    const name = next(answer);
    if (op === 45 /* - */) {
      delete headers[name];
    } else {
      const key = next(answer);
      headers[name] = [{ key, value: next(answer) }];
    }
  }
});

// The answer's first char (`=` unchanged, `~` edits) and its log field; the cursor is left
// after the log.
const opened = (function opened(answer) {
  if (answer === UNCHANGED) return false;
  at = 1;
  const line = next(answer);
  if (line.length > 0) console.log(line);
  return answer.charCodeAt(0) === 126 /* ~ */;
});

const viewerRequest = (function viewerRequest(request) {
  const answer = coreFor('viewerRequest').viewer_request(request);
  if (!opened(answer)) return request;
  if (answer.charCodeAt(at++) === 85 /* U */) {
    const uri = next(answer);
    const querystring = next(answer);
    applyEdits(request.headers, answer);
    request.uri = uri;
    request.querystring = querystring;
  } else {
    applyEdits(request.headers, answer);
  }
  return request;
});

function originResponse(request, response) {
  // Wasm has no clock: `Expires` without `Date` is read against this one.
  const answer = coreFor('originResponse').origin_response(request, response, Date.now());
  if (!opened(answer)) return response;
  if (response.headers === null || typeof response.headers !== 'object') response.headers = {};
  applyEdits(response.headers, answer);
  return response;
}

const dispatch = (function dispatch(cf) {
  switch (cf.config.eventType) {
    case 'viewer-request':
      return viewerRequest(cf.request);
    case 'origin-response':
      return originResponse(cf.request, cf.response);
    case 'viewer-response':
      return cf.response;
    default: // origin-request, and anything new: CloudFront goes on with the request
      return cf.request;
  }
});

const handle = (function handle(event) {
  const cf = event && event.Records && event.Records[0] && event.Records[0].cf;
  if (!cf || !cf.config) {
    log({ reason: 'unusable-event' });
    return undefined; // CloudFront's own answer to an unusable result: a 502 for this request
  }
  const isResponse = cf.config.eventType === 'origin-response' || cf.config.eventType === 'viewer-response';
  const input = isResponse ? cf.response : cf.request;
  // Nothing is mutated until the core has answered, so on any failure `input` is as it came.
  try {
    return dispatch(cf);
  } catch (err) {
    const trapped = err instanceof WebAssembly.RuntimeError;
    log({ reason: trapped ? 'wasm-trap' : 'exception', trigger: cf.config.eventType, error: String(err && err.message || err) });
    if (trapped) reload(isResponse ? 'originResponse' : 'viewerRequest');
    return input;
  }
});

// A trap may leave the instance's memory or stack in any state: start a fresh instance of
// that trigger's core (each trigger's instance has its own memory). Without a trigger: every
// loaded one.
function reload(trigger) {
  for (const t of trigger ? [trigger] : Object.keys(loaded).filter((k) => loaded[k])) {
    try {
      loaded[t] = load(t);
    } catch (err) {
      loaded[t] = null; // loaded again at its next event
      log({ reason: 'reload-failed', trigger: t, error: String(err && err.message || err) });
    }
  }
}

exports.handler = async (event, _context) => handle(event);

// For tests and the benchmark: swap the cores (e.g. for one that traps) and see reloads
// happen; a trigger's core (`viewer_request(request)` → answer string) and its instance's
// exports (default: viewer-request's).
exports._internals = {
  handle,
  setCore(replacement) {
    for (const t of Object.keys(loaded)) loaded[t] = { core: replacement, exports: null };
  },
  core(trigger = 'viewerRequest') { return coreFor(trigger); },
  // The glue's copies of the read lists.
  reads: READS,
  exports(trigger = 'viewerRequest') {
    coreFor(trigger);
    return loaded[trigger].exports;
  },
  reload,
};
