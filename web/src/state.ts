// Everything the operator chose lives in the URL query, so any view can be
// bookmarked or pasted to a colleague. Defaults are left out of the URL.

export type View = 'traffic' | 'talkers' | 'map' | 'ports' | 'blocked' | 'agents' | 'vm' | 'project';
// The tabs; the VM and project pages are reached by search or a click.
export const VIEWS: Array<[View, string]> = [
  ['traffic', 'Traffic'],
  ['talkers', 'Who talks to whom'],
  ['map', 'Map'],
  ['ports', 'Ports'],
  ['blocked', 'Blocked'],
  ['agents', 'Agents'],
];
export const PAGES: Array<[View, string]> = [
  ['vm', 'VM'],
  ['project', 'Project'],
];

export interface Filter {
  dim: string;
  neg: boolean;
  value: string;
}

export interface State {
  view: View;
  from: string;
  to: string;
  filters: Filter[];
  expr: string; // filter expression (docs/api.md "Filter expressions"), ANDed with the filters
  metric: 'bits' | 'packets';
  by: string; // timeseries stacking dimension, '' = total
  top: number;
  tables: string[]; // each "dim" or "dim,dim"
  refresh: number; // seconds, 0 = off; only ranges ending now are refreshed
  observations: 'first' | 'all'; // count each packet once (first observation) or every observation
  level: string; // matrix level
  chart: 'sankey' | 'chord';
  limit: number; // matrix links
  agent: string; // ports view
  ports: string[]; // selected ports "agent|sub_agent|index"
  group: string; // blocked view: '' | project | vm | security_groups
  compare: boolean; // traffic view: overlay the previous period's total
  vm: string; // VM page: the VM (name, else id, as flows hold it)
  project: string; // project page
}

export const REFRESH_VALUES = [0, 5, 10, 30, 60];

export const DEFAULT_TABLES = ['src_ip,dst_ip', 'proto', 'dst_port', 'src_ip', 'dst_ip', 'in_port'];
// With OpenStack attribution on (the inventory knows ports): by project, VM and relation.
export const OPENSTACK_TABLES = ['src_vm,dst_vm', 'src_project,dst_project', 'relation', 'proto', 'dst_port', 'dst_vm'];

// The defaults (left out of the URL); openStackDefaults() switches a few of them.
export const DEFAULTS: State = {
  view: 'traffic',
  from: '-1h',
  to: 'now',
  filters: [],
  expr: '',
  metric: 'bits',
  by: 'src_ip',
  top: 10,
  tables: DEFAULT_TABLES,
  refresh: 5,
  observations: 'first',
  level: 'ip',
  chart: 'sankey',
  limit: 40,
  agent: '',
  ports: [],
  group: '',
  compare: false,
  vm: '',
  project: '',
};

// OpenStack-first defaults when /api/v1/status says the inventory knows ports:
// stack by source project, tables by VM, project and relation.
export function openStackDefaults(on: boolean): void {
  DEFAULTS.by = on ? 'src_project' : 'src_ip';
  DEFAULTS.tables = on ? OPENSTACK_TABLES : DEFAULT_TABLES;
}

export const GROUPS = ['', 'project', 'vm', 'security_groups'];

// The levels of "Who talks to whom" (GET /api/v1/matrix level=).
export const LEVELS: Array<[string, string]> = [
  ['ip', 'IP'],
  ['vm', 'VM'],
  ['network', 'Network'],
  ['project', 'Project'],
  ['host', 'Host'],
  ['country', 'Country'],
  ['mixed', 'VM ↔ internet'],
];

export function parseFilter(s: string): Filter | null {
  const m = /^([a-z_]+)\s*(!?=)\s*(.*)$/.exec(s.trim());
  if (!m) return null;
  return { dim: m[1], neg: m[2] === '!=', value: m[3] };
}

export function formatFilter(f: Filter): string {
  return f.dim + (f.neg ? '!=' : '=') + f.value;
}

function num(v: string | null, def: number, allowed?: number[]): number {
  if (v === null) return def;
  const n = Number(v);
  if (!isFinite(n) || n < 0) return def;
  if (allowed && !allowed.includes(n)) return def;
  return n;
}

export function parse(search: string): State {
  const q = new URLSearchParams(search);
  const s: State = { ...DEFAULTS, filters: [], tables: [...DEFAULTS.tables], ports: [] };
  const v = q.get('view');
  if (v && [...VIEWS, ...PAGES].some(([id]) => id === v)) s.view = v as View;
  s.from = q.get('from') || DEFAULTS.from;
  s.to = q.get('to') || DEFAULTS.to;
  for (const f of q.getAll('filter')) {
    const p = parseFilter(f);
    if (p) s.filters.push(p);
  }
  s.expr = q.get('expr') || '';
  if (q.get('metric') === 'packets') s.metric = 'packets';
  if (q.has('by')) s.by = q.get('by') || '';
  s.top = num(q.get('top'), DEFAULTS.top) || DEFAULTS.top;
  const t = q.getAll('table').filter((x) => /^[a-z_]+(,[a-z_]+)?$/.test(x));
  if (t.length) s.tables = t;
  s.refresh = num(q.get('refresh'), DEFAULTS.refresh, REFRESH_VALUES);
  if (q.get('observations') === 'all') s.observations = 'all';
  s.level = q.get('level') || DEFAULTS.level;
  if (q.get('chart') === 'chord') s.chart = 'chord';
  s.limit = num(q.get('limit'), DEFAULTS.limit) || DEFAULTS.limit;
  s.agent = q.get('agent') || '';
  s.ports = q.getAll('port');
  const g = q.get('group') || '';
  if (GROUPS.includes(g)) s.group = g;
  s.compare = q.get('compare') === '1';
  s.vm = q.get('vm') || '';
  s.project = q.get('project') || '';
  return s;
}

export function serialize(s: State): string {
  const q = new URLSearchParams();
  if (s.view !== DEFAULTS.view) q.set('view', s.view);
  if (s.from !== DEFAULTS.from) q.set('from', s.from);
  if (s.to !== DEFAULTS.to) q.set('to', s.to);
  for (const f of s.filters) q.append('filter', formatFilter(f));
  if (s.expr) q.set('expr', s.expr);
  if (s.metric !== DEFAULTS.metric) q.set('metric', s.metric);
  if (s.by !== DEFAULTS.by) q.set('by', s.by);
  if (s.top !== DEFAULTS.top) q.set('top', String(s.top));
  if (s.tables.join(';') !== DEFAULTS.tables.join(';')) s.tables.forEach((t) => q.append('table', t));
  if (s.refresh !== DEFAULTS.refresh) q.set('refresh', String(s.refresh));
  if (s.observations !== DEFAULTS.observations) q.set('observations', s.observations);
  if (s.level !== DEFAULTS.level) q.set('level', s.level);
  if (s.chart !== DEFAULTS.chart) q.set('chart', s.chart);
  if (s.limit !== DEFAULTS.limit) q.set('limit', String(s.limit));
  if (s.agent) q.set('agent', s.agent);
  s.ports.forEach((p) => q.append('port', p));
  if (s.group) q.set('group', s.group);
  if (s.compare) q.set('compare', '1');
  if (s.vm) q.set('vm', s.vm);
  if (s.project) q.set('project', s.project);
  const str = q.toString();
  return str ? '?' + str : '';
}

// The query parameters shared by every endpoint that reads flows.
export function common(s: State): { from: string; to: string; filter: string[]; expr?: string; observations: string } {
  return { ...rangeAndFilters(s), observations: s.observations };
}

// The flow parameters without observations (endpoints that refuse it: blocked).
export function rangeAndFilters(s: State): { from: string; to: string; filter: string[]; expr?: string } {
  return { from: s.from, to: s.to, filter: s.filters.map(formatFilter), expr: s.expr || undefined };
}

// A range that ends now (relative or 'now'): new flows keep arriving in it.
export function isLive(s: Pick<State, 'to'>): boolean {
  return s.to === 'now' || /^now|^-/.test(s.to);
}

// Times: 'now', -15m/-6h/-7d (relative to now), Unix seconds, RFC 3339.
const REL = /^-(\d+)([smhd])$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;
const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

// A time of the URL in ms, or NaN when it is none of the forms the API takes.
export function timeMs(s: string, now = Date.now()): number {
  if (s === 'now') return now;
  const m = REL.exec(s);
  if (m) return now - +m[1] * UNIT[m[2]] * 1000;
  if (/^\d{9,11}$/.test(s)) return +s * 1000;
  if (RFC3339.test(s)) return Date.parse(s);
  return NaN;
}

// What is wrong with the range of s, or '' when nothing is.
export function rangeProblem(s: Pick<State, 'from' | 'to'>, now = Date.now()): string {
  const f = timeMs(s.from, now);
  const t = timeMs(s.to, now);
  const form = 'use an ISO date and time (2026-11-20T08:00:00Z), Unix seconds, -15m/-6h/-7d or now';
  if (isNaN(f)) return `From "${s.from}" is not a time: ${form}.`;
  if (isNaN(t)) return `To "${s.to}" is not a time: ${form}.`;
  if (f >= t) return `From (${s.from}) is not before To (${s.to}): the range is inverted or empty.`;
  return '';
}

// "-1h" for 3600 s, else "-5400s"… the shortest relative form of a length.
export function relative(seconds: number): string {
  for (const u of ['d', 'h', 'm']) if (seconds % UNIT[u] === 0) return '-' + seconds / UNIT[u] + u;
  return '-' + Math.round(seconds) + 's';
}

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

// The range moved by its own length, back (-1) or forward (+1). Forward up to
// now becomes a range ending now again (the preset it came from).
export function shiftRange(s: Pick<State, 'from' | 'to'>, dir: -1 | 1, now = Date.now()): { from: string; to: string } | null {
  const f = timeMs(s.from, now);
  const t = timeMs(s.to, now);
  if (isNaN(f) || isNaN(t) || f >= t) return null;
  const len = t - f;
  // Within a minute (or 2 % of the length) of now counts as now.
  if (dir > 0 && t + len >= now - Math.max(60e3, len * 0.02)) return isLive(s) ? null : { from: relative(Math.round(len / 1000)), to: 'now' };
  return { from: iso(f + dir * len), to: iso(t + dir * len) };
}
