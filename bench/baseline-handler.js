'use strict';
// The comparison baseline: an idiomatic plain-JS viewer-request handler doing the same job
// as the Wasm one (cache-key.md with the reference rules), written the way a team would
// write it by hand. It exists only to be measured against; the product's rules live in
// Rust. `edge-handler.js` checks that it agrees with the Wasm handler before timing it.

const TRACKING = new Set(['gclid', 'gclsrc', 'dclid', 'gbraid', 'wbraid', 'fbclid', 'msclkid', 'mc_cid', 'mc_eid', '_ga',
  '_gl', 'igshid', 'yclid', 'twclid', 'ttclid', 'li_fat_id', '_hsenc', '_hsmi', 'mkt_tok', 'srsltid']);
const UNKEYED = ['x-forwarded-host', 'x-host', 'x-forwarded-server', 'x-forwarded-scheme', 'x-forwarded-port',
  'x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override', 'forwarded'];
const READ_ONLY = new Set(['host', 'content-length', 'transfer-encoding', 'via']);
const ROUTES = [
  { prefix: '/static/', query: 'drop' },
  { exact: '/api/products', prefix: '/api/products/', query: new Set(['category', 'page', 'per_page', 'q', 'sort']) },
  { exact: '/api/config', query: 'drop' },
];
// Bypass routes match fail-closed (cache-key.md, "Bypass matching fails closed"): the literal
// part, ASCII case-insensitively, followed by the end or by anything that does not continue
// a name; and also when the path as an origin framework reads it (`%XX` decoded once, `\`
// as `/`, `;` parameters and dot-segments dropped) matches.
const BYPASS = { bypass: true, query: 'all' };
const BYPASS_LITERALS = ['/api/users', '/api/me'];
const CONTINUES_NAME = /[A-Za-z0-9\-_~]/;

function bypassMatch(path) {
  const lower = path.toLowerCase();
  return BYPASS_LITERALS.some((l) => lower.startsWith(l) && (lower.length === l.length || !CONTINUES_NAME.test(lower[l.length])));
}

function frameworkReading(path) {
  if (!/[%;\\]/.test(path)) return null;
  const decoded = path.replace(/%([0-9a-fA-F]{2})/g, (m, hex) => String.fromCharCode(parseInt(hex, 16))).replace(/\\/g, '/');
  const segments = [];
  for (const segment of decoded.split('/')) {
    const name = segment.split(';')[0];
    if (name === '' || name === '.') continue;
    if (name === '..') segments.pop();
    else segments.push(name);
  }
  return '/' + segments.join('/');
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
function normalizeComponent(s, isQuery) {
  let out = s.replace(/%([0-9a-fA-F]{2})/g, (m, hex) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : '%' + hex.toUpperCase();
  });
  out = encodeURI(out).replace(isQuery ? /[#\[\]^`{|}"<>\\]/g : /[#\[\]^`{|}"<>\\?]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
  // encodeURI re-encoded every `%`: undo that for the triplets that were already there.
  return out.replace(/%25([0-9A-F]{2})/g, '%$1');
}

function normalizePath(uri) {
  const merged = normalizeComponent(uri, false).replace(/\/{2,}/g, '/');
  const out = [];
  const segments = merged.slice(1).split('/');
  let dir = false;
  for (const seg of segments) {
    dir = false;
    if (seg === '.') dir = true;
    else if (seg === '..') { out.pop(); dir = true; } else out.push(seg);
  }
  const path = '/' + out.join('/') + (dir && out.length ? '/' : '');
  return path;
}

function routeFor(path) {
  if (bypassMatch(path)) return BYPASS;
  const reading = frameworkReading(path);
  if (reading !== null && bypassMatch(reading)) return BYPASS;
  for (const r of ROUTES) {
    if (r.exact === path || (r.prefix && path.startsWith(r.prefix))) return r;
  }
  return { query: 'all' };
}

function normalizeQuery(qs, route) {
  if (!qs || route.query === 'drop') return '';
  const items = [];
  for (const item of qs.split('&')) {
    if (!item) continue;
    const eq = item.indexOf('=');
    const rawName = eq < 0 ? item : item.slice(0, eq);
    if (!rawName) continue;
    const name = normalizeComponent(rawName, true);
    const lower = name.toLowerCase();
    if (lower.startsWith('utm_') || TRACKING.has(lower)) continue;
    if (route.query instanceof Set && !route.query.has(name)) continue;
    items.push(eq < 0 ? [name, name] : [name, name + '=' + normalizeComponent(item.slice(eq + 1), true)]);
  }
  items.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return items.map((i) => i[1]).join('&');
}

function acceptEncoding(values) {
  let br, gzip, star;
  for (const v of values) {
    for (const el of v.value.split(',')) {
      const [coding, ...params] = el.split(';').map((s) => s.trim());
      // A `q` parameter that is not a valid qvalue (`gzip;q`, `gzip;q=x`) is "not acceptable".
      const q = params.find((p) => /^q\s*(=|$)/i.test(p));
      const qvalue = q === undefined ? '1' : q.slice(q.indexOf('=') + 1 || q.length).trim();
      const ok = /^(1(\.0{0,3})?|0(\.[0-9]{0,3})?)$/.test(qvalue) && parseFloat(qvalue) > 0;
      const c = coding.toLowerCase();
      if (c === 'br' && br === undefined) br = ok;
      else if (c === 'gzip' && gzip === undefined) gzip = ok;
      else if (c === '*' && star === undefined) star = ok;
    }
  }
  br = br === undefined ? !!star : br;
  gzip = gzip === undefined ? !!star : gzip;
  return br && gzip ? 'br,gzip' : br ? 'br' : gzip ? 'gzip' : null;
}

exports.handler = async (event) => {
  const request = event.Records[0].cf.request;
  if (request.method !== 'GET' && request.method !== 'HEAD') return request;
  const headers = request.headers;
  const path = normalizePath(request.uri);
  const route = routeFor(path);
  const query = normalizeQuery(request.querystring, route);
  for (const h of UNKEYED) delete headers[h];
  // A header whose name or a value holds a NUL, or whose value is unreadable, is deleted
  // (but never the read-only ones: CloudFront answers 502 if they change).
  for (const name in headers) {
    if (READ_ONLY.has(name)) continue;
    if (name.includes('\0') || headers[name].some((v) => typeof v.value !== 'string' || v.value.includes('\0') || !v.value.isWellFormed())) {
      delete headers[name];
    }
  }
  if (headers['accept-encoding']) {
    const ae = acceptEncoding(headers['accept-encoding']);
    if (ae) headers['accept-encoding'] = [{ key: 'Accept-Encoding', value: ae }];
    else delete headers['accept-encoding'];
  }
  // A request carrying the viewer's credential is bypass too; its `Authorization` is relayed
  // in `x-viewer-authorization` (a viewer-sent one never survives).
  const authorization = headers.authorization;
  if (!route.bypass && !authorization) delete headers.cookie;
  if (authorization) headers['x-viewer-authorization'] = [{ key: 'X-Viewer-Authorization', value: authorization[0].value }];
  else delete headers['x-viewer-authorization'];
  if (path.length + (query ? query.length + 1 : 0) <= 8192) {
    request.uri = path;
    request.querystring = query;
  }
  return request;
};
