'use strict';
// Lambda@Edge entry point (`index.handler`). Thin glue only: it hands the policy core the
// strings it reads, applies the edits it answers with, and never throws. Every rule lives
// in Rust (edge-policy); the string protocol is documented in edge-worker/src/lib.rs.

const CORE = './pkg/edge_worker.js';

// The core, and the header names each policy reads (the glue sends only those, and at
// viewer-request every header holding a NUL or an unreadable value).
function load() {
  const core = require(CORE);
  const names = (list) => new Set(list.split(','));
  return {
    core,
    viewerRequestReads: names(core.viewer_request_reads()),
    originResponseReads: names(core.origin_response_reads()),
    originResponseRequestReads: names(core.origin_response_request_reads()),
  };
}

let loaded = load();

function log(fields) {
  console.log(JSON.stringify(Object.assign({ level: 'error', msg: 'edge handler left the input unchanged' }, fields)));
}

// A field: `length:text`, the length in UTF-16 code units. `length!text` marks a text that
// is not well-formed UTF-16 (it crosses altered, so the core treats it as unreadable); `0!`
// stands for a value that is not a string at all.
const UNREADABLE = '0!';
function field(s) {
  if (typeof s !== 'string') return UNREADABLE;
  return s.length + (s.isWellFormed() ? ':' : '!') + s;
}

// `name value` fields, one per value, of the headers in `reads`, and (when `unreadableToo`)
// of every header whose name or value holds a NUL or whose value is unreadable: the core
// deletes those. A missing or non-object map is reported as count -1.
function headerBlock(headers, reads, unreadableToo) {
  if (headers === null || typeof headers !== 'object') return ['', -1];
  let block = '';
  let count = 0;
  for (const name in headers) {
    const read = reads.has(name);
    const values = headers[name];
    if (!Array.isArray(values)) {
      if (read || unreadableToo) {
        block += field(name) + UNREADABLE;
        count++;
      }
      continue;
    }
    for (let i = 0; i < values.length; i++) {
      const entry = values[i];
      const value = entry !== null && typeof entry === 'object' ? entry.value : undefined;
      if (read) {
        block += field(name) + field(value);
        count++;
      } else if (unreadableToo && (typeof value !== 'string' || value.indexOf('\0') !== -1 || !value.isWellFormed() ||
          name.indexOf('\0') !== -1)) {
        block += field(name) + UNREADABLE;
        count++;
      }
    }
  }
  return [block, count];
}

// Reading the answer: `at` is the cursor, `next` returns the field there and moves past it.
let at = 0;
function next(answer) {
  const colon = answer.indexOf(':', at);
  const end = colon + 1 + Number(answer.slice(at, colon));
  const text = answer.slice(colon + 1, end);
  at = end;
  return text;
}

// Applies `-name` / `+name key value` edits from the cursor to the end.
function applyEdits(headers, answer) {
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
}

// The answer's first char (`=` unchanged, `~` edits) and its log field; the cursor is left
// after the log.
function opened(answer) {
  at = 1;
  const line = next(answer);
  if (line.length > 0) console.log(line);
  return answer.charCodeAt(0) === 126 /* ~ */;
}

function viewerRequest(request) {
  const [block, count] = headerBlock(request.headers, loaded.viewerRequestReads, true);
  const input = field(request.method) + field(request.uri) + field(request.querystring) + block;
  const answer = loaded.core.viewer_request(input, count);
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
}

function originResponse(request, response) {
  const [requestBlock, requestCount] = headerBlock(request.headers, loaded.originResponseRequestReads, false);
  const [block, count] = headerBlock(response.headers, loaded.originResponseReads, false);
  const input = field(request.method) + field(request.uri) + field(String(response.status)) + requestBlock + block;
  // Wasm has no clock: `Expires` without `Date` is read against this one.
  const answer = loaded.core.origin_response(input, requestCount, count, Date.now());
  if (!opened(answer)) return response;
  if (count < 0) response.headers = {};
  applyEdits(response.headers, answer);
  return response;
}

function dispatch(cf) {
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
}

function handle(event) {
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
    if (trapped) reload();
    return input;
  }
}

// A trap may leave the instance's memory or stack in any state: start a fresh instance.
function reload() {
  try {
    delete require.cache[require.resolve(CORE)];
    loaded = load();
  } catch (err) {
    log({ reason: 'reload-failed', error: String(err && err.message || err) });
  }
}

exports.handler = async (event, _context) => handle(event);

// For tests: swap the core (e.g. one that traps) and see reloads happen.
exports._internals = {
  handle,
  setCore(replacement) { loaded = Object.assign({}, loaded, { core: replacement }); },
  reload,
};
