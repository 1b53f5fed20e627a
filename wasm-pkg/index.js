'use strict';
// Lambda@Edge entry point (`index.handler`). Thin glue only: it hands the policy core the
// strings it reads, applies the edits it answers with, and never throws. Every rule lives
// in Rust (edge-policy); the string protocol is documented in edge-worker/src/lib.rs.

const CORE = './pkg/edge_worker.js';

// The core, and the header names each policy reads (the glue sends only those).
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

// `name \0 value \0` per value of the headers in `reads`; the count lets Rust detect a NUL
// inside a value. A missing or non-object map is reported as count -1.
function headerBlock(headers, reads) {
  if (headers === null || typeof headers !== 'object') return ['', -1];
  let block = '';
  let count = 0;
  for (const name in headers) {
    if (!reads.has(name)) continue;
    const values = headers[name];
    for (let i = 0; i < values.length; i++) {
      block += name + '\0' + values[i].value + '\0';
      count++;
    }
  }
  return [block, count];
}

// Applies `-name` / `+name Key value` edits from `parts[from..]`.
function applyEdits(headers, parts, from) {
  for (let i = from; i < parts.length - 1; ) {
    const op = parts[i];
    if (op.charCodeAt(0) === 45 /* - */) {
      delete headers[op.slice(1)];
      i += 1;
    } else {
      headers[op.slice(1)] = [{ key: parts[i + 1], value: parts[i + 2] }];
      i += 3;
    }
  }
}

function text(value, field) {
  if (typeof value !== 'string') throw new TypeError(`${field} is not a string`);
  return value;
}

function viewerRequest(request) {
  const [block, count] = headerBlock(request.headers, loaded.viewerRequestReads);
  const input = text(request.method, 'method') + '\0' + text(request.uri, 'uri') + '\0' +
    text(request.querystring, 'querystring') + '\0' + block;
  const answer = loaded.core.viewer_request(input, count);
  if (answer.charCodeAt(0) !== 126 /* ~ */) {
    if (answer.length > 1) console.log(answer.slice(1));
    return request;
  }
  const parts = answer.slice(1).split('\0');
  applyEdits(request.headers, parts, 2);
  request.uri = parts[0];
  request.querystring = parts[1];
  return request;
}

function originResponse(request, response) {
  const [requestBlock, requestCount] = headerBlock(request.headers, loaded.originResponseRequestReads);
  const [block, count] = headerBlock(response.headers, loaded.originResponseReads);
  const input = text(request.method, 'method') + '\0' + text(request.uri, 'uri') + '\0' +
    String(response.status) + '\0' + requestBlock + block;
  const answer = loaded.core.origin_response(input, requestCount, count, Date.now());
  if (answer.charCodeAt(0) !== 126 /* ~ */) {
    if (answer.length > 1) console.log(answer.slice(1));
    return response;
  }
  if (count < 0) response.headers = {};
  applyEdits(response.headers, answer.slice(1).split('\0'), 0);
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
