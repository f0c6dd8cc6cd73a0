// A tiny stand-in for flowlens: serves the built console
// (internal/console/assets/dist) and /api/v1/* from fixtures.
//
//   node test/mock-server.mjs [--port 8080] [--empty]    (npm run mock)
//
// Tests import startMock() and read .requests to see what the console asked.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as fx from './fixtures.mjs';

export const DIST = fileURLToPath(new URL('../../internal/console/assets/dist/', import.meta.url));

// A strict policy the console must work under (and that flowlens can send):
// nothing from any other host, no inline script.
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml' };

class BadRequest extends Error {}

// The parameters each endpoint takes; any other is a 400, as in flowlens.
const FLOW = ['from', 'to', 'filter', 'expr', 'observations'];
const PARAMS = {
  timeseries: [...FLOW, 'metric', 'by', 'top', 'step'],
  top: [...FLOW, 'by', 'metric', 'limit'],
  matrix: [...FLOW, 'level', 'limit'],
  geo: [...FLOW, 'limit'],
  ports: ['from', 'to', 'agent', 'port', 'step', 'limit'],
  accuracy: ['from', 'to', 'agent', 'port'],
  blocked: ['from', 'to', 'filter', 'expr', 'limit'],
  expr: ['expr'],
  unanswered: ['from'],
  search: ['q', 'kind', 'limit', 'from', 'to'],
  values: ['dim', 'q', 'limit', 'from', 'to'],
  agents: [], interfaces: [], status: [], dimensions: [],
};

// The part of flowlens's filter language the mock understands: comparisons
// DIM = VALUE or DIM != VALUE joined by "and". Anything else is a mistake
// at its place, as flowlens reports one (position from 0).
class ExprError extends BadRequest {
  constructor(position, message) {
    super(`filter expression, at character ${position + 1}: ${message}`);
    this.position = position;
    this.message2 = message;
  }
}
function exprFilters(expr) {
  const out = [];
  const re = /\s*([A-Za-z_]+)\s*(!?=)\s*("[^"]*"|'[^']*'|[^\s()]+)\s*(?:(and)\s+|$)/iy;
  let m;
  while (re.lastIndex < expr.length && (m = re.exec(expr))) {
    const start = re.lastIndex - m[0].length + m[0].search(/\S/);
    const dim = m[1].toLowerCase();
    if (!fx.DIMENSIONS.some((d) => d.name === dim) && !fx.EITHER_SIDE.some((d) => d.name === dim))
      throw new ExprError(start, `"${m[1]}" is not a dimension (GET /api/v1/dimensions lists them; either side: vm, project, network, host, ip, mac, interface)`);
    out.push(dim + m[2] + m[3].replace(/^(["'])(.*)\1$/, '$2'));
    if (!m[4]) break;
  }
  if (re.lastIndex < expr.length || !out.length) throw new ExprError(Math.min(re.lastIndex, expr.length), 'the mock understands DIM = VALUE joined by and');
  return out;
}

function api(route, q, opts) {
  if (!(route in PARAMS)) return undefined;
  // startMock({more: true}): more VMs and countries (fixtures MORE_FLOWS).
  const FLOWS = opts.more ? [...fx.FLOWS, ...fx.MORE_FLOWS] : fx.FLOWS;
  if (route === 'accuracy' && opts.noAccuracy) return undefined;
  for (const k of q.keys()) {
    if (!PARAMS[route].includes(k)) throw new BadRequest(`unknown parameter "${k}": this endpoint takes ${PARAMS[route].join(', ') || 'no parameters'}`);
  }
  if (route === 'expr') {
    exprFilters(q.get('expr') || '');
    return { valid: true };
  }
  const filters = [...q.getAll('filter'), ...(q.get('expr') ? exprFilters(q.get('expr')) : [])];
  let from, to;
  try {
    from = fx.parseTime(q.get('from'), '-1h');
    to = fx.parseTime(q.get('to'), 'now');
  } catch (e) {
    throw new BadRequest(e.message);
  }
  if (to <= from) throw new BadRequest('from must be before to');
  const span = to - from;
  // The fixtures' flows are in the last hour: a range that misses it has none.
  const empty = opts.empty || to < fx.NOW - 3600 || from > fx.NOW;
  const observations = q.get('observations') || 'first';
  if (!['first', 'all'].includes(observations)) throw new BadRequest('observations: first or all');
  let flows;
  // Drop samples: selected by filter=blocked!= (with observations=all); never first observations.
  const drops = filters.includes('blocked!=');
  try {
    flows = empty
      ? []
      : drops
        ? observations === 'all' && !opts.noBlocked ? fx.applyFilters(fx.DROPS, filters.filter((f) => f !== 'blocked!=')) : []
        : fx.applyFilters(FLOWS, filters).filter((f) => observations === 'all' || fx.FIRST.has(f.observation));
  } catch (e) {
    throw new BadRequest(e.message);
  }
  // Ranges longer than the 1-minute resolution keeps (6 h) read rolled-up rows: ports folded,
  // and a filter on an ephemeral port can only match the finest resolution.
  const fold = span > 6 * 3600;
  const notes = [];
  for (const f of filters) {
    const m = /^(src_port|dst_port)!?=(\d+)$/.exec(f);
    if (m && +m[2] >= 32768) notes.push(`filter ${f}: ephemeral ports (32768 and above) are kept only at the 1-minute resolution (the last 6 h); older traffic on that port is not matched`);
  }
  const extra = { observations, ...(notes.length ? { notes } : {}) };
  // The fixture flows cover the last hour; scale to the range asked.
  const scale = Math.min(span, 7 * 86400) / 3600;
  const scaled = flows.map((f) => ({ ...f, bytes: Math.round(f.bytes * scale), packets: Math.round(f.packets * scale) }));

  switch (route) {
    case 'status':
      return {
        version: 'flowlens 0.4.0-mock',
        started: new Date((fx.NOW - 5400) * 1000).toISOString(),
        flows_stored: empty || opts.storeDisabled ? 0 : 697,
        flow_rows: empty || opts.storeDisabled ? 0 : 697,
        oldest: empty ? null : new Date((fx.NOW - 3600) * 1000).toISOString(),
        newest: empty ? null : new Date(Date.now() - 4000).toISOString(),
        store_bytes: empty ? 0 : 184320,
        retention: '168h0m0s',
        listen: { sflow: [':6343'] },
        store_enabled: !opts.storeDisabled,
        store_engine: 'duckdb',
        counters_stored: empty ? 0 : 24,
        store_write_errors: 0,
        tiers: [
          { step: 0, keep: '6h0m0s', rows: empty ? 0 : 697, oldest: empty ? null : new Date((fx.NOW - 3600) * 1000).toISOString(), newest: empty ? null : new Date((fx.NOW - 60) * 1000).toISOString() },
          { step: 300, keep: '48h0m0s', rows: 0, oldest: null, newest: null },
          { step: 3600, keep: '168h0m0s', rows: 0, oldest: null, newest: null },
        ],
        ...(opts.noHint ? {} : { setup_hint: fx.SETUP_HINT }),
        // GeoIP from downloaded DB-IP Lite databases (none with noGeo).
        enrichment: {
          // OpenStack attribution: the inventory's ports with startMock({openstack: true}), else no source.
          openstack: opts.openstack
            ? { ports: fx.INVENTORY.length, sources: [{ name: 'ovsdb:127.0.0.1', ports: fx.INVENTORY.length, updated: new Date().toISOString() }], ovsdb: ['127.0.0.1=tcp:127.0.0.1:6640'], api: { enabled: false } }
            : { ovsdb: [], api: { enabled: false }, hint: 'no OpenStack source: set enrich.openstack.ovsdb, .api.enabled or .static_file (docs/openstack.md)' },
          geoip: opts.noGeo
            ? { enabled: false, hint: 'no GeoIP database: run `flowlens geoip update`' }
            : {
                enabled: true,
                attribution: { text: 'IP geolocation by DB-IP', url: 'https://db-ip.com', license: 'CC BY 4.0', license_url: 'https://creativecommons.org/licenses/by/4.0/' },
              },
        },
      };
    case 'dimensions':
      return { dimensions: fx.DIMENSIONS, either_side: fx.EITHER_SIDE };
    case 'blocked': {
      const limit = +(q.get('limit') || 100);
      if (!(limit >= 1 && limit <= 10000)) throw new BadRequest('limit: 1 to 10000');
      let rows;
      try {
        rows = empty || opts.noBlocked ? [] : fx.applyFilters(fx.BLOCKED, filters);
      } catch (e) {
        throw new BadRequest(e.message);
      }
      rows = [...rows].sort((a, b) => b.count - a.count);
      return { from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString(), total: rows.reduce((a, r) => a + r.count, 0), rows: rows.slice(0, limit) };
    }
    case 'unanswered':
      return {
        inference: 'inferred, not a drop: TCP SYNs to which no packet came back within the window, sampled exactly (sampling rate 1) or retried (two or more SYN samples of one connection)',
        window: '10s',
        from: new Date(from * 1000).toISOString(),
        rows: empty || opts.noBlocked ? [] : fx.UNANSWERED,
        tracking: 3,
        untracked: 0,
      };
    case 'search': {
      const text = (q.get('q') || '').trim();
      if (!text) throw new BadRequest('q is required: the text to look for');
      const kinds = (q.get('kind') || '').split(',').filter(Boolean);
      const limit = +(q.get('limit') || 20);
      const stored = empty ? [] : FLOWS;
      return { q: text, matches: fx.search(stored, text, kinds, limit, !opts.noInventory), inventory: !opts.noInventory };
    }
    case 'values': {
      // As flowlens: a dimension's values in the range starting with q, any case, the busiest
      // first, every observation (drop samples too), both ends of an either-side dimension.
      const dim = (q.get('dim') || '').trim().toLowerCase();
      if (!dim) throw new BadRequest('dim is required: the dimension whose values to list');
      const prefix = q.get('q') || '';
      if (prefix.length > 200) throw new BadRequest(`q is ${prefix.length} characters long: at most 200`);
      const limit = +(q.get('limit') || 10);
      if (!(Number.isInteger(limit) && limit >= 1 && limit <= 100)) throw new BadRequest('limit: a whole number from 1 to 100');
      const e = fx.EITHER_SIDE.find((d) => d.name === dim);
      if (!e && !fx.DIMENSIONS.some((d) => d.name === dim)) throw new BadRequest(`dim "${q.get('dim')}": unknown dimension`);
      const cols = e ? e.of : [dim];
      const rows = empty ? [] : [...FLOWS, ...(opts.noBlocked ? [] : fx.DROPS)];
      const m = new Map();
      for (const r of rows)
        for (const c of cols) {
          const v = fx.value(r, c);
          if (v && v.toLowerCase().startsWith(prefix.toLowerCase())) m.set(v, (m.get(v) || 0) + Math.round(r.bytes * scale));
        }
      const values = [...m].map(([value, bytes]) => ({ value, bytes })).sort((a, b) => b.bytes - a.bytes || (a.value < b.value ? -1 : 1));
      return { dim, q: prefix, from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString(), values: values.slice(0, limit) };
    }
    case 'top': {
      const by = (q.get('by') || '').split(',').filter(Boolean);
      if (!by.length) throw new BadRequest('by: name one or more dimensions, e.g. by=src_ip,dst_ip');
      for (const d of by) if (!fx.DIMENSIONS.some((x) => x.name === d)) throw new BadRequest(`by: unknown dimension "${d}" (see /api/v1/dimensions)`);
      const metric = q.get('metric') || 'bytes';
      const limit = +(q.get('limit') || 10);
      const rows = fx.aggregate(scaled, by, fold).sort((a, b) => b[metric] - a[metric]);
      const top = rows.slice(0, limit).map((r) => ({ ...r, bps: (r.bytes * 8) / span, pps: r.packets / span }));
      const rest = rows.slice(limit);
      const sum = (a, k) => a.reduce((s, r) => s + r[k], 0);
      return { by, rows: top, other: { bytes: sum(rest, 'bytes'), packets: sum(rest, 'packets') }, total: { bytes: sum(rows, 'bytes'), packets: sum(rows, 'packets') }, ...extra };
    }
    case 'timeseries': {
      const metric = q.get('metric') || 'bps';
      const by = q.get('by') || '';
      const top = +(q.get('top') || 10);
      const step = +(q.get('step') || Math.max(10, Math.round(span / 300 / 10) * 10));
      const n = Math.floor(span / step);
      const timestamps = Array.from({ length: n }, (_, j) => from + j * step);
      const v = (r) => (metric === 'pps' ? r.packets / span : (r.bytes * 8) / span);
      const groups = by ? fx.aggregate(scaled, [by], fold).sort((a, b) => v(b) - v(a)) : [{ key: { total: 'total' }, ...fx.aggregate(scaled, [])[0] }];
      if (!flows.length) return { from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString(), step, metric, by, timestamps, series: [], ...extra };
      // opts.gaps: the collector was not collecting from 40 % to 55 % of the range (null, not 0).
      // opts.gaps 'all': not collecting at all in the range.
      const gap = (j) => opts.gaps === 'all' || (opts.gaps && j >= Math.floor(n * 0.4) && j < Math.floor(n * 0.55));
      const mk = (g, i) => timestamps.map((_, j) => (gap(j) ? null : +(v(g) * fx.shape(i, j, n)).toFixed(3)));
      const series = groups.slice(0, top).map((g, i) => ({ key: by ? g.key[by] : 'total', values: mk(g, i) }));
      // "other" is always present, zeros when the top N hold everything.
      const o = groups.slice(top).reduce((a, g) => ({ bytes: a.bytes + g.bytes, packets: a.packets + g.packets }), { bytes: 0, packets: 0 });
      series.push({ key: 'other', values: mk(o, 7) });
      return { from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString(), step, metric, by, timestamps, series, ...extra };
    }
    case 'matrix': {
      const level = q.get('level') || 'ip';
      if (!['ip', 'vm', 'network', 'project', 'host', 'country', 'mixed'].includes(level)) throw new BadRequest('level: one of ip, vm, network, project, host, country, mixed');
      const limit = +(q.get('limit') || 50);
      if (level === 'mixed' || level === 'country') {
        // As flowlens: VM, else country, else address (mixed); country, else "this cloud" (country).
        const end = (k, side) =>
          level === 'country'
            ? (k[side + '_country'] ? 'country:' + k[side + '_country'] : 'cloud:')
            : k[side + '_vm'] ? 'vm:' + k[side + '_vm'] : k[side + '_country'] ? 'country:' + k[side + '_country'] : 'ip:' + k[side + '_ip'];
        const m = new Map();
        for (const r of fx.aggregate(scaled, ['src_vm', 'src_country', 'src_ip', 'dst_vm', 'dst_country', 'dst_ip'])) {
          const a = end(r.key, 'src'), b = end(r.key, 'dst');
          if (level === 'country' && a === 'cloud:' && b === 'cloud:') continue;
          const cur = m.get(a + '\t' + b) || { source: a, target: b, bytes: 0, packets: 0 };
          cur.bytes += r.bytes;
          cur.packets += r.packets;
          m.set(a + '\t' + b, cur);
        }
        const links = [...m.values()].sort((x, y) => y.bytes - x.bytes).slice(0, limit);
        const ids = [...new Set(links.flatMap((l) => [l.source, l.target]))];
        const nodes = ids.map((id) => {
          const i = id.indexOf(':');
          const kind = id.slice(0, i), value = id.slice(i + 1);
          return { id, label: kind === 'cloud' ? 'this cloud' : value, kind, value };
        });
        return { level, nodes, links, ...extra };
      }
      const [sd, dd] = [`src_${level}`, `dst_${level}`];
      // Ends without a value at this level are left out.
      const links = fx.aggregate(scaled, [sd, dd]).filter((r) => r.key[sd] !== '' && r.key[dd] !== '').sort((a, b) => b.bytes - a.bytes).slice(0, limit)
        .map((r) => ({ source: r.key[sd], target: r.key[dd], bytes: r.bytes, packets: r.packets }));
      const ids = [...new Set(links.flatMap((l) => [l.source, l.target]))];
      return { level, nodes: ids.map((id) => ({ id, label: id })), links, ...extra };
    }
    case 'geo':
      return { points: empty || opts.noGeo ? [] : fx.GEO_POINTS, ...extra };
    case 'ports': {
      if (empty) return { ports: [] };
      let p = fx.ports(from, to);
      if (q.get('agent')) p = p.filter((x) => x.agent === q.get('agent'));
      if (q.get('port')) p = p.filter((x) => x.name === q.get('port') || String(x.index) === q.get('port'));
      p = p.slice(0, +(q.get('limit') || 20));
      return { ports: p };
    }
    case 'accuracy':
      return empty ? { ports: [] } : fx.accuracy(from, to);
    case 'interfaces':
      return { interfaces: empty ? [] : fx.interfaces() };
    case 'agents':
      if (empty || opts.noAgents) return { agents: [] };
      return {
        agents: fx.AGENTS_V2.map((a) => ({
          ...a,
          last_seen: new Date(Date.now() - ({ STALE: 400e3, OLD: 3 * 3600e3 }[a.last_seen] ?? 3e3)).toISOString(),
        })),
      };
    default:
      return undefined;
  }
}

export function startMock(opts = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const rec = { method: req.method, path: u.pathname, query: u.searchParams, url: req.url, cookie: req.headers.cookie || '', status: 0 };
    requests.push(rec);
    if (u.pathname.startsWith('/api/v1/')) {
      const route = u.pathname.slice('/api/v1/'.length);
      let body, code = 200;
      const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
      try {
        if (opts.token && !rec.cookie.split(/;\s*/).includes('flowlens_token=' + opts.token)) {
          [code, body] = [401, { error: 'authentication required: send Authorization: Bearer TOKEN (console.auth.token)' }];
          headers['WWW-Authenticate'] = 'Bearer realm="flowlens"';
        } else if (opts.storeDisabled && route !== 'status' && route !== 'dimensions' && route !== 'agents') {
          [code, body] = [503, { error: 'the flow store is disabled (store.enabled: false)' }];
        } else {
          body = api(route, u.searchParams, opts);
          if (body === undefined) [code, body] = [404, { error: `no such endpoint ${u.pathname}` }];
        }
      } catch (e) {
        [code, body] = [e instanceof BadRequest ? 400 : 500, { error: e.message }];
        if (e instanceof ExprError && route === 'expr') body = { error: e.message, position: e.position, message: e.message2 };
      }
      rec.status = code;
      const delay = opts.delayMs || 0;
      setTimeout(() => {
        res.writeHead(code, headers);
        res.end(JSON.stringify(body));
      }, delay);
      return;
    }
    let p = path.normalize(decodeURIComponent(u.pathname)).replace(/^(\.\.[/\\])+/, '');
    if (p === '/' || p === '') p = '/index.html';
    const file = path.join(DIST, p);
    if (!file.startsWith(DIST) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    rec.status = 200;
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Content-Security-Policy': CSP });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}/`,
        requests,
        apiRequests: (route) => requests.filter((r) => r.path === '/api/v1/' + route),
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
      });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const port = args.includes('--port') ? +args[args.indexOf('--port') + 1] : 8080;
  const m = await startMock({ port, empty: args.includes('--empty'), noGeo: args.includes('--no-geo'), openstack: args.includes('--openstack'), more: args.includes('--more') });
  console.log(`mock flowlens API (and built console) on ${m.url}`);
}
