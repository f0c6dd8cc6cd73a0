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
  vm: string; // VM page: the VM (name, else id, as flows hold it)
  project: string; // project page
}

export const REFRESH_VALUES = [0, 5, 10, 30, 60];

export const DEFAULT_TABLES = ['src_ip,dst_ip', 'proto', 'dst_port', 'src_ip', 'dst_ip', 'in_port'];

export const DEFAULTS: State = {
  view: 'traffic',
  from: '-1h',
  to: 'now',
  filters: [],
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
  vm: '',
  project: '',
};

export const GROUPS = ['', 'project', 'vm', 'security_groups'];

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
  const s: State = { ...DEFAULTS, filters: [], tables: [...DEFAULT_TABLES], ports: [] };
  const v = q.get('view');
  if (v && [...VIEWS, ...PAGES].some(([id]) => id === v)) s.view = v as View;
  s.from = q.get('from') || DEFAULTS.from;
  s.to = q.get('to') || DEFAULTS.to;
  for (const f of q.getAll('filter')) {
    const p = parseFilter(f);
    if (p) s.filters.push(p);
  }
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
  if (s.metric !== DEFAULTS.metric) q.set('metric', s.metric);
  if (s.by !== DEFAULTS.by) q.set('by', s.by);
  if (s.top !== DEFAULTS.top) q.set('top', String(s.top));
  if (s.tables.join(';') !== DEFAULT_TABLES.join(';')) s.tables.forEach((t) => q.append('table', t));
  if (s.refresh !== DEFAULTS.refresh) q.set('refresh', String(s.refresh));
  if (s.observations !== DEFAULTS.observations) q.set('observations', s.observations);
  if (s.level !== DEFAULTS.level) q.set('level', s.level);
  if (s.chart !== DEFAULTS.chart) q.set('chart', s.chart);
  if (s.limit !== DEFAULTS.limit) q.set('limit', String(s.limit));
  if (s.agent) q.set('agent', s.agent);
  s.ports.forEach((p) => q.append('port', p));
  if (s.group) q.set('group', s.group);
  if (s.vm) q.set('vm', s.vm);
  if (s.project) q.set('project', s.project);
  const str = q.toString();
  return str ? '?' + str : '';
}

// The query parameters shared by every endpoint that reads flows.
export function common(s: State): { from: string; to: string; filter: string[]; observations: string } {
  return { from: s.from, to: s.to, filter: s.filters.map(formatFilter), observations: s.observations };
}

// The flow parameters without observations (endpoints that refuse it: blocked).
export function rangeAndFilters(s: State): { from: string; to: string; filter: string[] } {
  return { from: s.from, to: s.to, filter: s.filters.map(formatFilter) };
}

// A range that ends now (relative or 'now'): new flows keep arriving in it.
export function isLive(s: State): boolean {
  return s.to === 'now' || /^now|^-/.test(s.to);
}
