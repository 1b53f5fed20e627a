// The live page's only script: polls /__edge/live each second and draws what it says; a
// click on a request fetches /__edge/explain?id=ID. Every value the edge recorded is set
// as text (never as markup): a received URL is whatever a viewer sent.
'use strict';
(() => {
  const POLL_MS = 1000;
  const SVG = 'http://www.w3.org/2000/svg';
  const rows = document.querySelector('#requests tbody');
  const detail = document.getElementById('detail');
  let latest = 0;
  let capacity = 500;
  let selected = null;

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const svg = (tag, attrs) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  };

  function counters(stats) {
    for (const node of document.querySelectorAll('[data-counter]')) {
      const value = stats[node.dataset.counter];
      node.textContent = value === undefined ? '–' : String(value);
    }
  }

  function environments(list) {
    const body = document.querySelector('#environments tbody');
    body.replaceChildren(...list.map((e, i) => {
      const tr = el('tr');
      for (const [v, cls] of [[i, ''], [e.invocations, 'num'], [e.cold_starts, 'num'], [e.l1_hits, 'num'],
        [e.l2_hits, 'num'], [e.crashes, 'num']]) tr.append(el('td', cls, v));
      return tr;
    }));
  }

  function chart(series) {
    const box = document.getElementById('chart');
    const [W, H, left, top, bottom] = [640, 200, 34, 8, 20];
    const plotH = H - top - bottom;
    const plotW = W - left - 8;
    const first = series.now - series.buckets + 1;
    const x = (index) => left + ((index - first) / (series.buckets - 1)) * plotW;
    const y = (ratio) => top + (1 - ratio) * plotH;
    const parts = [];
    for (const r of [0, 0.25, 0.5, 0.75, 1]) {
      parts.push(svg('line', { class: 'grid', x1: left, x2: W - 8, y1: y(r), y2: y(r) }));
      const label = svg('text', { class: 'axis', x: 2, y: y(r) + 3 });
      label.textContent = `${Math.round(r * 100)}%`;
      parts.push(label);
    }
    for (const [at, text] of [[first, `-${series.buckets * series.bucket_secs / 60} min`], [series.now, 'now']]) {
      const label = svg('text', { class: 'axis', x: Math.min(x(at), W - 30), y: H - 4 });
      label.textContent = text;
      parts.push(label);
    }
    const legend = document.getElementById('legend');
    legend.replaceChildren();
    series.behaviours.forEach((s, i) => {
      const cls = `s${i % 8}`;
      const points = s.buckets.filter(([index]) => index >= first)
        .map(([index, hits, requests]) => [x(index), y(hits / requests)]);
      if (points.length > 1) {
        parts.push(svg('polyline', { class: cls, points: points.map((p) => p.join(',')).join(' ') }));
      }
      for (const [px, py] of points) parts.push(svg('circle', { class: cls, cx: px, cy: py, r: 2.5 }));
      const total = s.buckets.reduce((a, b) => [a[0] + b[1], a[1] + b[2]], [0, 0]);
      const item = el('li', cls);
      item.append(el('span', '', `${s.behaviour}  ${total[0]}/${total[1]}`));
      legend.append(item);
    });
    box.replaceChildren(...parts);
  }

  function kind(xCache) {
    if (xCache.startsWith('Hit') || xCache.startsWith('RefreshHit')) return 'hit';
    if (xCache.startsWith('Miss')) return 'miss';
    return 'error';
  }

  function row(r) {
    const tr = el('tr', kind(r.x_cache));
    tr.dataset.id = r.id;
    if (r.differs) tr.classList.add('differs');
    const cells = [
      [new Date(r.at_ms).toLocaleTimeString(), ''],
      [r.method, ''],
      [r.url, 'url mono'],
      [r.behaviour, 'mono'],
      [r.status, 'num'],
      [r.x_cache.replace(/ from cloudfront$/, ''), 'xcache'],
      [r.cache_status.join(', '), 'mono cache-status'],
      [r.key === null ? '—' : r.key, 'key mono'],
      [r.latency_ms.toFixed(1), 'num'],
    ];
    for (const [text, cls] of cells) tr.append(el('td', cls, text));
    tr.cells[5].title = r.x_cache;
    if (r.differs) tr.title = `the native canonical form ${r.native} differs from what the handler returned, ${r.handler}`;
    return tr;
  }

  function requests(list) {
    for (const r of list) rows.prepend(row(r));
    while (rows.rows.length > capacity) rows.lastElementChild.remove();
  }

  async function poll() {
    try {
      const response = await fetch(`/__edge/live?after=${latest}`, { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      capacity = data.capacity;
      document.getElementById('capacity').textContent = String(capacity);
      requests(data.requests);
      counters(data.stats);
      environments(data.stats.environments);
      chart(data.series);
      latest = data.latest;
      document.body.dataset.latest = String(latest);
      document.getElementById('status').textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (e) {
      document.getElementById('status').textContent = `The edge is not answering (${e.message}).`;
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  async function explain(id) {
    detail.replaceChildren(el('h2', '', `Explanation of request ${id}`), el('p', 'dim', 'Loading…'));
    let data;
    try {
      const response = await fetch(`/__edge/explain?id=${encodeURIComponent(id)}`, { cache: 'no-store' });
      data = await response.json();
      if (!response.ok) throw new Error(data.message || `HTTP ${response.status}`);
    } catch (e) {
      detail.replaceChildren(el('h2', '', `Explanation of request ${id}`), el('p', 'flag', e.message));
      return;
    }
    const parts = [el('h2', '', `Explanation of request ${id}`)];
    parts.push(el('p', 'mono', `${data.request.method} ${data.request.url}  →  ${data.x_cache}`));
    parts.push(el('p', 'source', `Computed by ${data.computed_by}.`));
    if (data.differs) {
      parts.push(el('p', 'flag', `The native canonical form (${data.native}) differs from what the handler returned (${data.handler}).`));
    } else if (data.handler !== null) {
      parts.push(el('p', 'dim', `The handler returned ${data.handler}: the same canonical form.`));
    }
    const pre = el('pre', 'explanation', data.text);
    parts.push(pre);
    parts.push(el('h2', '', 'Request headers as received'));
    const table = el('table', 'headers');
    for (const [name, value] of data.request.headers) {
      const tr = el('tr');
      tr.append(el('td', 'mono', name), el('td', 'mono', value));
      table.append(tr);
    }
    parts.push(table);
    detail.replaceChildren(...parts);
    detail.dataset.id = String(id);
  }

  rows.addEventListener('click', (event) => {
    const tr = event.target.closest('tr[data-id]');
    if (!tr) return;
    if (selected) selected.classList.remove('selected');
    selected = tr;
    tr.classList.add('selected');
    explain(tr.dataset.id);
  });

  poll();
})();
