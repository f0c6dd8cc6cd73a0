// Port counters (/api/v1/ports): throughput, utilisation, errors, discards
// for the selected ports (in above the axis, out below), and every port in a table.
import { h, select } from '../dom';
import { get, ApiError, type PortsResp, type Port, type InterfacesResp, type Interface, type AccuracyResp, type AccuracyPort } from '../api';
import { chart, color, AXIS, TOOLTIP_BASE, timeLabel, useUTC, type EChartsType, type Option } from '../charts';
import { type Ctx, type ViewImpl, panel, message, showIn, overlay, errorText, isAbort, table, swatch, type Column } from '../ui';
import * as fmt from '../format';

type Field = 'bps' | 'utilisation' | 'errors' | 'discards';
const CHARTS: Array<[Field, string, (v: number) => string]> = [
  ['bps', 'Throughput', (v) => fmt.bps(v)],
  ['utilisation', 'Utilisation', (v) => fmt.pctAxis(v)],
  ['errors', 'Errors', (v) => fmt.perSec(v)],
  ['discards', 'Discards', (v) => fmt.perSec(v)],
];
const DEFAULT_SELECTED = 6;
// The API sends the busiest ports first (default 20).
const PORT_LIMIT = 100;

let charts: Array<{ field: Field; el: HTMLElement; c: EChartsType; fmt: (v: number) => string }> = [];
let tableEl: HTMLElement;
let agentSlot: HTMLElement;
let searchText = '';

// docs/operations.md, "How accurate are the numbers" (also /usr/share/doc/flowlens/operations.md).
export const ACCURACY_DOC = 'https://github.com/flowlens/flowlens/blob/main/docs/operations.md#how-accurate-are-the-numbers';

export function portKey(p: Port): string {
  return `${p.agent}|${p.sub_agent}|${p.index}`;
}

interface Stat {
  port: Port;
  key: string;
  label: string;
  inAvg: number | null;
  outAvg: number | null;
  utilMax: number | null;
  errMax: number;
  discMax: number;
}

function nums(a: Array<number | null> | undefined): number[] {
  return (a || []).filter((v): v is number => v !== null && v !== undefined && isFinite(v));
}
const avg = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : null);
const maxOf = (a: number[]) => (a.length ? Math.max(...a) : 0);

function mount(root: HTMLElement, ctx: Ctx): void {
  agentSlot = h('span');
  const search = h('input', { type: 'search', placeholder: 'find port…', size: 14, value: searchText, 'aria-label': 'Find port' });
  search.addEventListener('input', () => {
    searchText = search.value;
    tableEl.querySelectorAll<HTMLTableRowElement>('tbody tr').forEach((tr) => {
      tr.hidden = !!searchText && !tr.textContent!.toLowerCase().includes(searchText.toLowerCase());
    });
  });
  const p = panel('Port counters', [agentSlot, ctx.state.ports.length ? h('button', { type: 'button', onclick: () => ctx.set({ ports: [] }) }, 'Busiest ports') : h('span')], 'ports-panel');
  const grid = h('div.ports-grid');
  charts = CHARTS.map(([field, title, f]) => {
    const el = h('div.chart.port-chart', { 'data-testid': 'port-' + field });
    grid.append(h('div.pc', null, h('h3', null, title, h('small', null, ' ↑ in  ↓ out')), el));
    return { field, el, c: null as unknown as EChartsType, fmt: f };
  });
  p.body.append(grid);
  const tp = panel('Ports (the ' + PORT_LIMIT + ' busiest)', [search], 'ports-table-panel');
  tableEl = tp.body;
  root.append(p.el, tp.el);
  charts.forEach((x) => (x.c = chart(x.el)));
}

async function load(ctx: Ctx): Promise<void> {
  const s = ctx.state;
  let r: PortsResp;
  // The interface inventory adds OpenFlow port numbers and link state; optional.
  const inv = get<InterfacesResp>('interfaces', {}, ctx.signal).catch(() => ({ interfaces: [] as Interface[] }));
  // Sampled estimates against the counters; a server without the endpoint (404) hides the columns.
  const acc = get<AccuracyResp>('accuracy', { from: s.from, to: s.to, agent: s.agent || undefined }, ctx.signal).then(
    (x): AccuracyResp | string | null => x,
    (e): string | null => {
      if (isAbort(e)) throw e;
      return e instanceof ApiError && e.status === 404 ? null : errorText(e);
    },
  );
  acc.catch(() => null); // awaited below, except on early returns
  try {
    r = await get<PortsResp>('ports', { from: s.from, to: s.to, agent: s.agent || undefined, limit: PORT_LIMIT }, ctx.signal);
  } catch (e) {
    if (isAbort(e)) throw e;
    charts.forEach((x) => overlay(x.el, message('error', errorText(e))));
    showIn(tableEl);
    return;
  }
  const ports = r.ports || [];
  const ifaces = new Map(((await inv).interfaces || []).map((i) => [`${i.agent}|${i.sub_agent}|${i.index}`, i]));
  const accR = await acc;
  const accuracy = accR !== null && typeof accR === 'object' ? accR : null;
  const accOf = new Map<string, AccuracyPort>();
  for (const a of accuracy?.ports || []) accOf.set(`${a.agent}|${a.sub_agent}|${a.index}|${a.direction}`, a);
  const agents = [...new Set([...ports.map((p) => p.agent), ...(s.agent ? [s.agent] : [])])].sort();
  showIn(agentSlot, agents.length > 1 || s.agent ? h('label', null, 'agent ', select(s.agent, [['', 'all'], ...agents.map((a): [string, string] => [a, a])], (v) => ctx.set({ agent: v, ports: [] }), { 'aria-label': 'Agent' })) : h('span'));

  if (!ports.length) {
    charts.forEach((x) => {
      x.c.clear();
      overlay(x.el, null);
    });
    overlay(
      charts[0].el,
      message('empty', 'No interface counters in this time range. Open vSwitch exports them when the sFlow record has ', h('code', null, 'polling=10'), ' (seconds).'),
    );
    showIn(tableEl, message('empty', 'No ports.'));
    return;
  }
  const multiAgent = new Set(ports.map((p) => p.agent + '/' + p.sub_agent)).size > 1;
  const stats: Stat[] = ports.map((p) => {
    const u = [...nums(p.in_utilisation), ...nums(p.out_utilisation)];
    return {
      port: p,
      key: portKey(p),
      label: (multiAgent ? p.agent + (p.sub_agent ? '/' + p.sub_agent : '') + ' ' : '') + (p.name || 'ifIndex ' + p.index),
      inAvg: avg(nums(p.in_bps)),
      outAvg: avg(nums(p.out_bps)),
      utilMax: u.length ? maxOf(u) : null,
      errMax: maxOf([...nums(p.in_errors), ...nums(p.out_errors)]),
      discMax: maxOf([...nums(p.in_discards), ...nums(p.out_discards)]),
    };
  });
  const busy = (x: Stat) => (x.inAvg ?? 0) + (x.outAvg ?? 0);
  stats.sort((a, b) => busy(b) - busy(a) || a.label.localeCompare(b.label));
  let selected = stats.filter((x) => s.ports.includes(x.key));
  if (!selected.length) selected = stats.slice(0, DEFAULT_SELECTED);
  const colourOf = new Map(selected.map((x, i) => [x.key, color(i)]));

  for (const ch of charts) drawChart(ch, selected, colourOf);

  // From the automatic choice, a click shows that port alone; then clicks add and remove.
  const toggle = (x: Stat) => {
    if (!s.ports.length) return ctx.set({ ports: [x.key] });
    const cur = selected.map((y) => y.key);
    const next = cur.includes(x.key) ? cur.filter((k) => k !== x.key) : [...cur, x.key];
    ctx.set({ ports: next });
  };
  const cols: Column<Stat>[] = [
    { label: 'Port', cls: 'key', cell: (x) => h('span', null, colourOf.has(x.key) ? swatch(colourOf.get(x.key)!) : h('i.sw.off'), x.port.name || '–') },
    ...(multiAgent ? [{ label: 'Agent', cell: (x: Stat) => x.port.agent + (x.port.sub_agent ? '/' + x.port.sub_agent : '') }] : []),
    { label: 'ifIndex', cls: 'num', cell: (x) => String(x.port.index) },
    { label: 'OF port', cls: 'num', title: 'OpenFlow port number', cell: (x) => String(ifaces.get(x.key)?.ofport ?? '–') },
    { label: 'State', cell: (x) => linkState(ifaces.get(x.key)) },
    { label: 'Speed', cls: 'num', cell: (x) => fmt.speed(x.port.speed) },
    { label: 'In avg', cls: 'num', cell: (x) => fmt.bps(x.inAvg) },
    { label: 'Out avg', cls: 'num', cell: (x) => fmt.bps(x.outAvg) },
    { label: 'Util max', cls: 'num', cell: (x) => (x.utilMax === null ? '–' : fmt.pctAxis(x.utilMax)) },
    { label: 'Errors max', cls: 'num', cell: (x) => h('span', { class: x.errMax > 0 ? 'bad' : undefined }, fmt.perSec(x.errMax)) },
    { label: 'Discards max', cls: 'num', cell: (x) => h('span', { class: x.discMax > 0 ? 'warn' : undefined }, fmt.perSec(x.discMax)) },
    ...(accR !== null
      ? (['in', 'out'] as const).map((dir) => ({
          label: 'Estimate vs counters ' + dir,
          cls: 'acc',
          title:
            (dir === 'in' ? 'Traffic entering the bridge from the port' : 'Traffic leaving the bridge into the port') +
            ': bytes estimated from flow samples against the port\'s counters, the difference in σ of the sampling error',
          cell: (x: Stat) => accuracyCell(accOf.get(x.key + '|' + dir)),
        }))
      : []),
  ];
  const tbl = table(cols, stats, { testid: 'ports-table', rowTitle: s.ports.length ? 'Click: show / hide in the charts' : 'Click: show this port', onRow: toggle });
  if (accR === null) showIn(tableEl, tbl);
  else showIn(tableEl, tbl, accuracyNote(typeof accR === 'string' ? accR : ''));
  if (searchText) tableEl.querySelector('input')?.dispatchEvent(new Event('input'));
}

function signedPct(r: number): string {
  const p = r * 100;
  return (p > 0 ? '+' : p < 0 ? '−' : '') + Math.abs(p).toFixed(Math.abs(p) >= 10 ? 0 : 1) + ' %';
}

export function accuracyCell(a: AccuracyPort | undefined): Node | string {
  if (!a) return '–';
  const cls = a.status === 'ok' ? 'ok' : a.status === 'off' ? 'bad' : 'muted';
  const details = [
    `estimate ${fmt.bytes(a.estimate_bytes)}, counters ${fmt.bytes(a.counter_bytes)}`,
    `${fmt.int(a.samples)} flow samples` + (a.sampling_rate ? ` at 1 in ${fmt.int(a.sampling_rate)}` : '') + (a.windows ? `, ${fmt.int(a.windows)} windows` : ''),
    a.packets_diff_ratio != null && a.packets_diff_sigma != null
      ? `packets: ${signedPct(a.packets_diff_ratio)} (${Math.abs(a.packets_diff_sigma).toFixed(1)} σ)`
      : '',
    a.flooded_packets ? `${fmt.count(a.flooded_packets)} flooded/multicast packets of the bridge may have left here too` : '',
    a.sigma_ratio != null ? `σ of the sampling error ${fmt.pct(a.sigma_ratio, 2)}` : '',
    a.window_from && a.window_to ? `window ${fmt.datetime(a.window_from, true)} – ${fmt.datetime(a.window_to, true)}` : '',
    a.reason || '',
  ].filter(Boolean);
  const hasNum = a.status !== 'not enough data' && a.diff_ratio != null && a.diff_sigma != null;
  return h(
    'span.acc-cell',
    { class: cls, title: details.join('\n'), 'data-status': a.status },
    h('b', null, a.status),
    hasNum ? ` ${signedPct(a.diff_ratio!)} (${Math.abs(a.diff_sigma!).toFixed(1)} σ)` : '',
  );
}

function accuracyNote(err: string): HTMLElement {
  return h(
    'p.acc-note',
    { 'data-testid': 'accuracy-note' },
    err ? h('span.bad', null, 'Estimate vs counters unavailable: ' + err + '. ') : null,
    h('b', null, 'Estimate vs counters: '),
    'the bytes estimated from sampled packets (samples × sampling rate) against the exact counters Open vSwitch exports for the same port and time window. ',
    'The difference is given in σ of the sampling error: ',
    h('b', null, 'ok'),
    ' within 3 σ, ',
    h('b', null, 'off'),
    ' beyond (samples lost, or a bias), ',
    h('b', null, 'not enough data'),
    ' when too few samples or counters cover the window (or counters wrapped or reset). ',
    h('a', { href: ACCURACY_DOC, target: '_blank', rel: 'noopener noreferrer', title: 'docs/operations.md (installed as /usr/share/doc/flowlens/operations.md)' }, 'How accurate are the numbers'),
  );
}

function linkState(i: Interface | undefined): Node | string {
  if (!i || (i.admin_up == null && i.oper_up == null)) return '–';
  if (i.admin_up === false) return h('span.warn', null, 'admin down');
  if (i.oper_up === false) return h('span.bad', null, 'down');
  return 'up';
}

function drawChart(ch: (typeof charts)[number], selected: Stat[], colourOf: Map<string, string>): void {
  const inF = ('in_' + ch.field) as keyof Port;
  const outF = ('out_' + ch.field) as keyof Port;
  const all = selected.flatMap((x) => x.port.timestamps || []);
  const t0 = all.length ? Math.min(...all) : 0;
  const t1 = all.length ? Math.max(...all) : 0;
  const hasData = selected.some((x) => nums(x.port[inF] as Array<number | null>).length || nums(x.port[outF] as Array<number | null>).length);
  const speeds = selected.some((x) => x.port.speed);
  overlay(
    ch.el,
    hasData ? null : message('empty', ch.field === 'utilisation' && !speeds ? 'No utilisation: port speeds unknown.' : 'No rates in this range: they need two counter samples.'),
  );
  const series: NonNullable<Option['series']> = [];
  for (const x of selected) {
    const ts = x.port.timestamps || [];
    const inV = (x.port[inF] as Array<number | null> | undefined) || [];
    const outV = (x.port[outF] as Array<number | null> | undefined) || [];
    const col = colourOf.get(x.key);
    // Few points (short capture, long range): draw them as dots, a line alone would not show.
    const dots = nums(inV).length + nums(outV).length < 40;
    const common = { type: 'line' as const, name: x.label, symbol: dots ? 'circle' : 'none', symbolSize: 4, showSymbol: dots, color: col };
    series.push(
      { ...common, lineStyle: { width: 1.2 }, data: ts.map((t, i) => [t * 1000, inV[i] ?? null]) },
      { ...common, lineStyle: { width: 1.2, type: [4, 2] }, data: ts.map((t, i) => [t * 1000, outV[i] === null || outV[i] === undefined ? null : -outV[i]!]) },
    );
  }
  const f = ch.fmt;
  ch.c.setOption(
    {
      animation: false,
    useUTC: useUTC(),
      grid: { left: 58, right: 10, top: 8, bottom: 22 },
      tooltip: {
        ...TOOLTIP_BASE,
        trigger: 'axis',
        formatter: (ps: unknown) => {
          const arr = ps as Array<{ seriesIndex: number; seriesName: string; value: [number, number | null]; color: string }>;
          if (!arr.length) return '';
          const head = fmt.datetime(arr[0].value[0], true) + ' ' + fmt.zoneText();
          const rows = arr
            .filter((p) => p.value[1] !== null)
            .map((p) => `<span style="color:${p.color}">●</span> ${p.seriesName} ${p.seriesIndex % 2 ? 'out' : 'in'}: <b>${f(Math.abs(p.value[1] as number))}</b>`);
          return [head, ...rows].join('<br>');
        },
      },
      xAxis: {
        type: 'time',
        ...AXIS,
        min: t0 * 1000,
        max: t1 * 1000,
        splitLine: { show: false },
        axisLabel: { ...AXIS.axisLabel, formatter: (v: number) => timeLabel(v, t1 - t0), hideOverlap: true },
      },
      yAxis: {
        type: 'value',
        ...AXIS,
        axisLabel: { ...AXIS.axisLabel, formatter: (v: number) => f(Math.abs(v)) },
        // Utilisation: at least ±1% so that an idle port does not look busy.
        ...(ch.field === 'utilisation' ? { min: (v: { min: number }) => Math.min(v.min, -0.01), max: (v: { max: number }) => Math.max(v.max, 0.01) } : {}),
      },
      series,
    } as Option,
    true,
  );
}

export const ports: ViewImpl = { mount, load };
