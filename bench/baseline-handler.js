'use strict';
// The comparison baseline: an idiomatic plain-JS viewer-request handler doing the same job
// as the Wasm one (cache-key.md with the reference rules), written the way a team would
// write it by hand. It exists only to be measured against; the product's rules live in
// Rust. `edge-handler.js` checks that it agrees with the Wasm handler before timing it.

const TRACKING = new Set(['gclid', 'gclsrc', 'dclid', 'gbraid', 'wbraid', 'fbclid', 'msclkid', 'mc_cid', 'mc_eid', '_ga',
  '_gl', 'igshid', 'yclid', 'twclid', 'ttclid', 'li_fat_id', '_hsenc', '_hsmi', 'mkt_tok', 'srsltid']);
const UNKEYED = ['x-forwarded-host', 'x-host', 'x-forwarded-server', 'x-forwarded-scheme', 'x-forwarded-port',
  'x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override', 'forwarded'];
const ROUTES = [
  { prefix: '/static/', query: 'drop' },
  { exact: '/api/products', prefix: '/api/products/', query: new Set(['category', 'page', 'per_page', 'q', 'sort']) },
  { exact: '/api/config', query: 'drop' },
  { ci: ['/api/users/', '/api/me'], bypass: true, query: 'all' },
];

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
  const lower = path.toLowerCase();
  for (const r of ROUTES) {
    if (r.ci && r.ci.some((p) => lower.startsWith(p))) return r;
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
      const q = params.find((p) => p.toLowerCase().startsWith('q='));
      const ok = !q || /^(1(\.0{0,3})?|0\.\d{0,2}[1-9]\d{0,2}|0\.[0-9]{0,3})$/.test(q.slice(2)) && parseFloat(q.slice(2)) > 0;
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
  if (headers['accept-encoding']) {
    const ae = acceptEncoding(headers['accept-encoding']);
    if (ae) headers['accept-encoding'] = [{ key: 'Accept-Encoding', value: ae }];
    else delete headers['accept-encoding'];
  }
  if (!route.bypass && !headers.authorization) delete headers.cookie;
  if (path.length + (query ? query.length + 1 : 0) <= 8192) {
    request.uri = path;
    request.querystring = query;
  }
  return request;
};
