// The VM page and the project page: one VM's (or project's) traffic in and
// out over time, its peers, protocols and ports, its tap port's counters
// (VM), its VMs (project) and what security groups blocked, gathered from
// timeseries, top, search, ports and blocked with source-or-destination
// filters.
import { h, clear } from '../dom';
import { get, type TimeseriesResp, type TopResp, type TopRow, type SearchResp, type SearchMatch, type PortsResp, type Port, type BlockedResp } from '../api';
import { common, rangeAndFilters, type State } from '../state';
import { chart, AXIS, TOOLTIP_BASE, timeLabel, useUTC, color, type EChartsType, type Option } from '../charts';
import { type Ctx, type ViewImpl, panel, message, showIn, overlay, errorText, isAbort, table, barCell, keyText, swatch, Notes, noFlowsYet, emptyRange, type Column } from '../ui';
import { blockedTable, blockedHowTo, drawLines, lineStats } from './common';
import * as fmt from '../format';

type Kind = 'vm' | 'project';

interface Els {
  info: HTMLElement;
  chart: HTMLElement;
  legend: HTMLElement;
  peers: HTMLElement;
  protos: HTMLElement;
  extra: HTMLElement; // VM: its port's counters; project: its VMs
  extraChart: HTMLElement | null;
  blocked: HTMLElement;
}

let els: Els;
let c: EChartsType | null = null;
let pc: EChartsType | null = null;
let notes = new Notes();

const name = (k: Kind, s: State) => (k === 'vm' ? s.vm : s.project);
const WORD: Record<Kind, string> = { vm: 'VM', project: 'project' };

function mount(kind: Kind) {
  return (root: HTMLElement, ctx: Ctx): void => {
    const n = name(kind, ctx.state);
    if (!n) {
      root.append(message('empty', `No ${WORD[kind]} chosen: type part of its name, an IP or a MAC in the search box above.`));
      return;
    }
    notes = new Notes();
    const info = h('div.entity-info', { 'data-testid': 'entity-info' });
    const tp = panel(h('span', null, (kind === 'vm' ? 'VM ' : 'Project ') , h('b', null, n), ': traffic in and out'), [], 'entity-ts-panel');
    const chartEl = h('div.chart.small', { 'data-testid': 'entity-chart' });
    const legend = h('div.legend', { 'data-testid': 'entity-legend' });
    tp.body.append(h('div.ts-wrap', null, chartEl, legend));
    const pp = panel('Peers', [], 'peers-panel');
    const prp = panel('Protocols and ports', [], 'protos-panel');
    let extra: HTMLElement;
    let extraChart: HTMLElement | null = null;
    let xp;
    if (kind === 'vm') {
      xp = panel('Its port: counters (errors, discards)', [], 'vm-port-panel');
      extraChart = h('div.chart.small', { 'data-testid': 'vm-port-chart' });
      extra = h('div', { 'data-testid': 'vm-port' });
      xp.body.append(extraChart, extra);
    } else {
      xp = panel('Its VMs', [], 'project-vms-panel');
      extra = xp.body;
    }
    const bp = panel('What security groups blocked', [], 'entity-blocked-panel');
    els = { info, chart: chartEl, legend, peers: pp.body, protos: prp.body, extra, extraChart, blocked: bp.body };
    for (const e of [pp.body, prp.body, extra, bp.body]) e.append(message('loading', 'Loading…'));
    root.append(info, notes.el, tp.el, h('div.split.entity', null, pp.el, prp.el), h('div.split.entity', null, xp.el, bp.el));
    c = chart(chartEl);
    pc = extraChart ? chart(extraChart) : null;
  };
}

function f(dim: string, value: string): string {
  return dim + '=' + value;
}

function load(kind: Kind) {
  return async (ctx: Ctx): Promise<void> => {
    const s = ctx.state;
    const n = name(kind, s);
    if (!n) return;
    notes.reset();
    const q = common(s);
    const bytesMetric = s.metric === 'bits';
    const ts = (dim: string) => get<TimeseriesResp>('timeseries', { ...q, filter: [...q.filter, f(dim, n)], metric: bytesMetric ? 'bps' : 'pps', by: '' }, ctx.signal);
    const top = (by: string[], dim: string, limit: number) =>
      get<TopResp>('top', { ...q, filter: [...q.filter, f(dim, n)], by: by.join(','), metric: bytesMetric ? 'bytes' : 'packets', limit }, ctx.signal);
    const soft = <T>(p: Promise<T>): Promise<T | string> =>
      p.catch((e) => {
        if (isAbort(e)) throw e;
        return errorText(e);
      });
    const peerBy = (side: 'src' | 'dst') => (kind === 'vm' ? [`${side}_vm`, `${side}_ip`, `${side}_country`, `${side}_asn`] : [`${side}_project`, `${side}_ip`, `${side}_country`, `${side}_asn`]);
    const jobs = {
      out: soft(ts(`src_${kind}`)),
      in: soft(ts(`dst_${kind}`)),
      peersOut: soft(top(peerBy('dst'), `src_${kind}`, 100)),
      peersIn: soft(top(peerBy('src'), `dst_${kind}`, 100)),
      protos: soft(top(['proto', 'dst_port'], kind, 15)),
      // Its details: the inventory's (whatever the range), and whether the range's flows name it.
      info: soft(get<SearchResp>('search', { q: n, kind, limit: 10, from: s.from, to: s.to }, ctx.signal)),
      blocked: soft(get<BlockedResp>('blocked', { ...rangeAndFilters(s), filter: [...rangeAndFilters(s).filter, f(kind, n)], limit: 100 }, ctx.signal)),
      // Where it is (hypervisor, project, its port) as its own flows say,
      // for clouds without an inventory the console can read.
      where:
        kind === 'vm'
          ? soft(get<TopResp>('top', { ...q, observations: 'all', filter: [...q.filter, f('src_vm', n)], by: 'agent,in_port,src_host,src_project,src_network,observation', limit: 5 }, ctx.signal))
          : Promise.resolve(''),
      vmsOut: kind === 'project' ? soft(top(['src_vm'], 'src_project', 50)) : Promise.resolve(''),
      vmsIn: kind === 'project' ? soft(top(['dst_vm'], 'dst_project', 50)) : Promise.resolve(''),
    };
    const [out, inn] = await Promise.all([jobs.out, jobs.in]);
    drawTraffic(ctx, out, inn);
    const [po, pi] = await Promise.all([jobs.peersOut, jobs.peersIn]);
    drawPeers(ctx, kind, po, pi);
    const pr = await jobs.protos;
    if (typeof pr === 'string') showIn(els.protos, message('error', pr));
    else {
      notes.add(pr.notes);
      drawProtos(ctx, kind, n, pr);
    }
    const info = await jobs.info;
    const where = await jobs.where;
    const match = typeof info === 'string' ? null : (info.matches || []).find((m) => m.kind === kind && m.value === n) ?? null;
    drawInfo(ctx, kind, n, match, typeof where === 'string' ? null : where, typeof info === 'string' ? info : '');
    if (kind === 'vm') await loadPort(ctx, match, typeof where === 'string' ? null : where);
    else drawVMs(ctx, await jobs.vmsOut, await jobs.vmsIn);
    const b = await jobs.blocked;
    if (typeof b === 'string') showIn(els.blocked, message('error', b));
    else if (!b.rows.length) showIn(els.blocked, message('empty', `Nothing blocked to or from this ${WORD[kind]} in this range.`), blockedHowTo());
    else showIn(els.blocked, blockedTable(ctx, b.rows, { testid: 'entity-blocked', compact: true }));
  };
}

function drawTraffic(ctx: Ctx, out: TimeseriesResp | string, inn: TimeseriesResp | string): void {
  if (!c) return;
  if (typeof out === 'string' || typeof inn === 'string') {
    c.clear();
    overlay(els.chart, message('error', typeof out === 'string' ? out : (inn as string)));
    return;
  }
  notes.add(out.notes);
  const unit = ctx.state.metric === 'bits' ? fmt.bps : fmt.pps;
  const so = lineStats(out);
  const si = lineStats(inn);
  if (!so.total && !si.total) {
    c.clear();
    overlay(els.chart, noFlowsYet(ctx) ? message('empty', 'No flows yet.') : emptyRange(ctx));
    clear(els.legend);
    return;
  }
  overlay(els.chart, null);
  drawLines(c, [
    { name: 'sent (out)', r: out, colour: color(0) },
    { name: 'received (in)', r: inn, colour: color(1) },
  ], unit);
  const rows = [
    { name: 'sent (out)', colour: color(0), st: so },
    { name: 'received (in)', colour: color(1), st: si },
  ];
  showIn(
    els.legend,
    table(
      [
        { label: 'Direction', cell: (x) => h('span', null, swatch(x.colour), x.name) },
        { label: 'avg', cls: 'num', cell: (x) => unit(x.st.avg), csv: (x) => x.st.avg },
        { label: 'max', cls: 'num', cell: (x) => unit(x.st.max), csv: (x) => x.st.max },
        { label: 'p95', cls: 'num', title: '95th percentile of the steps with data', cell: (x) => unit(x.st.p95), csv: (x) => x.st.p95 },
        { label: 'last', cls: 'num', title: 'The last step with data', cell: (x) => (x.st.last === null ? '–' : unit(x.st.last)), csv: (x) => x.st.last },
      ],
      rows,
      { testid: 'entity-legend-table' },
    ),
  );
}

interface Peer {
  key: string;
  vm: string; // or project on the project page
  ips: string[];
  country: string;
  asn: string;
  sent: number; // to the peer
  received: number; // from it
}

function drawPeers(ctx: Ctx, kind: Kind, po: TopResp | string, pi: TopResp | string): void {
  if (typeof po === 'string' || typeof pi === 'string') {
    showIn(els.peers, message('error', typeof po === 'string' ? po : (pi as string)));
    return;
  }
  const bytesMetric = ctx.state.metric === 'bits';
  const v = (r: TopRow) => (bytesMetric ? r.bytes : r.packets);
  const peers = new Map<string, Peer>();
  const add = (side: 'src' | 'dst', r: TopRow, sent: boolean) => {
    const who = String(r.key[`${side}_${kind}`] ?? '');
    const ip = String(r.key[`${side}_ip`] ?? '');
    const key = who ? 'n:' + who : 'i:' + ip;
    let p = peers.get(key);
    if (!p) {
      p = { key, vm: who, ips: [], country: String(r.key[`${side}_country`] ?? ''), asn: String(r.key[`${side}_asn`] ?? ''), sent: 0, received: 0 };
      peers.set(key, p);
    }
    if (ip && !p.ips.includes(ip)) p.ips.push(ip);
    if (sent) p.sent += v(r);
    else p.received += v(r);
  };
  po.rows.forEach((r) => add('dst', r, true));
  pi.rows.forEach((r) => add('src', r, false));
  const list = [...peers.values()].sort((a, b) => b.sent + b.received - (a.sent + a.received)).slice(0, 25);
  if (!list.length) {
    showIn(els.peers, message('empty', 'No peers in this range.'));
    return;
  }
  const max = Math.max(...list.map((p) => p.sent + p.received));
  const val = bytesMetric ? fmt.bytes : fmt.count;
  const word = kind === 'vm' ? 'VM' : 'project';
  const self = name(kind, ctx.state);
  const cols: Column<Peer>[] = [
    {
      label: 'Peer',
      cls: 'key',
      title: `${word === 'VM' ? 'VMs' : 'Projects'} by name; addresses outside the cloud by IP`,
      cell: (p) =>
        p.vm
          ? h('span', null, h('b', null, p.vm), h('small', null, (p.vm === self ? ' (itself: within the ' + word + ')' : '') + ' ' + p.ips.slice(0, 2).join(', ') + (p.ips.length > 2 ? ' …' : '')))
          : p.ips[0] || '(none)',
    },
    { label: 'Country · AS', cls: 'key', cell: (p) => (p.vm ? word : [p.country && p.country !== '' ? p.country : '', p.asn && p.asn !== '0' ? 'AS' + p.asn : ''].filter(Boolean).join(' · ') || '–') },
    { label: 'Sent to', cls: 'num', cell: (p) => val(p.sent) },
    { label: 'Received from', cls: 'num', cell: (p) => val(p.received) },
    { label: 'Total', cls: 'num', cell: (p) => barCell(val(p.sent + p.received), max ? (p.sent + p.received) / max : 0) },
  ];
  showIn(
    els.peers,
    table(cols, list, {
      testid: 'peers-table',
      rowTitle: `Click: open the ${word}'s page (or filter on the address) · shift-click: exclude it`,
      onRow: (p, ev) => {
        if (ev.shiftKey) ctx.addFilters(p.vm ? [{ dim: kind, value: p.vm, neg: true }] : [{ dim: 'ip', value: p.ips[0] ?? '', neg: true }]);
        else if (p.vm) ctx.set(kind === 'vm' ? { view: 'vm', vm: p.vm } : { view: 'project', project: p.vm });
        else if (p.ips[0]) ctx.addFilters([{ dim: 'ip', value: p.ips[0], neg: false }]);
      },
    }),
  );
}

function drawProtos(ctx: Ctx, _kind: Kind, _n: string, r: TopResp): void {
  const bytesMetric = ctx.state.metric === 'bits';
  const val = (x: { bytes: number; packets: number }) => (bytesMetric ? x.bytes : x.packets);
  const total = r.total ? val(r.total) : 0;
  if (!r.rows.length) {
    showIn(els.protos, message('empty', 'No traffic in this range.'));
    return;
  }
  const cols: Column<TopRow>[] = [
    { label: 'Proto', cls: 'key', cell: (x) => keyText(x.key.proto, 'proto') },
    { label: 'Dst port', cls: 'key', cell: (x) => keyText(x.key.dst_port, 'dst_port') },
    { label: bytesMetric ? 'Bytes' : 'Packets', cls: 'num', cell: (x) => (bytesMetric ? fmt.bytes(x.bytes) : fmt.count(x.packets)) },
    { label: 'Share', cls: 'num', cell: (x) => barCell(fmt.pct(total ? val(x) / total : 0), total ? val(x) / total : 0) },
  ];
  showIn(
    els.protos,
    table(cols, r.rows, {
      testid: 'protos-table',
      rowTitle: 'Click: filter on this protocol and port · shift-click: exclude',
      onRow: (x, ev) =>
        ctx.addFilters([
          { dim: 'proto', value: String(x.key.proto ?? ''), neg: ev.shiftKey },
          { dim: 'dst_port', value: String(x.key.dst_port ?? ''), neg: ev.shiftKey },
        ]),
    }),
  );
}

function link(text: string, title: string, onclick: () => void, testid?: string): HTMLElement {
  return h('a', { href: '#', title, 'data-testid': testid, onclick: (ev: MouseEvent) => (ev.preventDefault(), onclick()) }, text);
}

function drawInfo(ctx: Ctx, kind: Kind, n: string, m: SearchMatch | null, where: TopResp | null, err: string): void {
  const row = where?.rows.find((r) => r.key.observation === 'port') ?? where?.rows[0];
  const host = m?.host || String(row?.key.src_host ?? '');
  const project = kind === 'vm' ? m?.project || String(row?.key.src_project ?? '') : '';
  const network = m?.network || String(row?.key.src_network ?? '');
  const items: Array<[string, Node | string]> = [];
  if (kind === 'vm') {
    if (project) items.push(['Project', link(project, 'Open the project page', () => ctx.set({ view: 'project', project }), 'link-project')]);
    if (host) items.push(['Hypervisor', link(host, 'Show the traffic of this hypervisor (source or destination)', () => ctx.set({ view: 'traffic', filters: [...ctx.state.filters, { dim: 'host', value: host, neg: false }] }), 'link-host')]);
    if (network) items.push(['Network', network]);
    if (m?.ips?.length) items.push(['IPs', m.ips.join(', ')]);
    if (m?.macs?.length) items.push(['MACs', m.macs.join(', ')]);
    const ports = m?.ports?.length ? m.ports.map((p) => `${p.interface} on ${p.agent}`) : row && row.key.in_port ? [`${row.key.in_port} on ${row.key.agent}`] : [];
    if (ports.length) items.push(['Port', ports.join(', ')]);
    if (m?.vm_id && m.vm_id !== n) items.push(['Instance', m.vm_id]);
  }
  const src = m ? (m.inventory ? 'OpenStack inventory' + (m.stored ? ' and flows' : ' (no flows in this range)') : 'flows (no OpenStack inventory)') : row ? 'flows' : '';
  showIn(
    els.info,
    h('h2', null, (kind === 'vm' ? 'VM ' : 'Project ') , h('span', { 'data-testid': 'entity-name' }, n)),
    h('dl', null, items.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v)))),
    h(
      'p.actions',
      null,
      link(`Traffic view filtered on this ${WORD[kind]}`, `Open the Traffic view with ${kind}=${n} (source or destination)`, () =>
        ctx.set({ view: 'traffic', filters: [...ctx.state.filters.filter((x) => x.dim !== kind), { dim: kind, value: n, neg: false }] }),
        'link-traffic',
      ),
      src ? h('small', null, ' · from the ' + src) : null,
      err ? h('small.err', null, ' · search: ' + err) : null,
    ),
  );
}

async function loadPort(ctx: Ctx, m: SearchMatch | null, where: TopResp | null): Promise<void> {
  const s = ctx.state;
  // The port: where the inventory says it is plugged, else where its first observations entered.
  let agent = '';
  let port = '';
  let ifindex = 0;
  if (m?.ports?.length) [agent, port, ifindex] = [m.ports[0].agent, m.ports[0].interface, m.ports[0].ifindex ?? 0];
  else {
    const row = where?.rows.find((r) => r.key.observation === 'port');
    if (row) [agent, port] = [String(row.key.agent ?? ''), String(row.key.in_port ?? '')];
  }
  if (!port) {
    pc?.clear();
    overlay(els.extraChart!, message('empty', 'Its port is not known: neither the OpenStack inventory nor its flows name it.'));
    clear(els.extra);
    return;
  }
  let r: PortsResp;
  try {
    // By ifIndex on its agent when the inventory knows it (counter samples need not carry names), else by name.
    r = await get<PortsResp>('ports', { from: s.from, to: s.to, agent: agent || undefined, port: ifindex && agent ? String(ifindex) : port }, ctx.signal);
    if (!r.ports.length && ifindex && agent) r = await get<PortsResp>('ports', { from: s.from, to: s.to, agent, port }, ctx.signal);
  } catch (e) {
    if (isAbort(e)) throw e;
    pc?.clear();
    overlay(els.extraChart!, message('error', errorText(e)));
    return;
  }
  const p: Port | undefined = r.ports[0];
  if (!p || !p.timestamps.length) {
    pc?.clear();
    overlay(els.extraChart!, message('empty', `No counter samples of ${port} in this range (sFlow polling, e.g. polling=10, exports them).`));
    showIn(els.extra, h('p.note', null, `Port ${port}` + (agent ? ` on ${agent}` : '')));
    return;
  }
  overlay(els.extraChart!, null);
  const times = p.timestamps.map((t) => t * 1000);
  const span = times.length > 1 ? (times[times.length - 1] - times[0]) / 1000 : 3600;
  const series: Array<[string, Array<number | null> | undefined, string]> = [
    ['in errors', p.in_errors, '#d62728'],
    ['out errors', p.out_errors, '#ff7f0e'],
    ['in discards', p.in_discards, '#9467bd'],
    ['out discards', p.out_discards, '#8c564b'],
  ];
  const opt: Option = {
    animation: false,
    useUTC: useUTC(),
    grid: { left: 64, right: 12, top: 10, bottom: 24 },
    tooltip: { ...TOOLTIP_BASE, trigger: 'axis', valueFormatter: (v) => (v === null || v === undefined ? 'no data' : fmt.perSec(v as number)) },
    xAxis: { type: 'time', ...AXIS, splitLine: { show: false }, axisLabel: { ...AXIS.axisLabel, formatter: (v: number) => timeLabel(v, span), hideOverlap: true } },
    yAxis: { type: 'value', ...AXIS, minInterval: 0.1, axisLabel: { ...AXIS.axisLabel, formatter: (v: number) => fmt.perSec(v) } },
    series: series.map(([name, vals, colour]) => ({ type: 'line' as const, name, symbol: 'none', connectNulls: false, lineStyle: { width: 1.5 }, color: colour, data: times.map((t, j) => [t, vals?.[j] ?? null]) })),
  };
  pc?.setOption(opt, true);
  const sum = (a: Array<number | null> | undefined) => (a ? a.filter((x): x is number => x !== null).reduce((x, y) => x + y, 0) : null);
  const max = (a: Array<number | null> | undefined) => {
    const v = (a || []).filter((x): x is number => x !== null);
    return v.length ? Math.max(...v) : null;
  };
  const rows = series.map(([name, vals, colour]) => ({ name, colour, max: max(vals), any: sum(vals) }));
  showIn(
    els.extra,
    h('p.note', null, `${p.name || port} on ${p.agent}` + (p.speed ? ` · ${fmt.speed(p.speed)}` : '') + ' · throughput avg in ' + fmt.bps(avgOf(p.in_bps)) + ', out ' + fmt.bps(avgOf(p.out_bps)) + ' (counters)'),
    table(
      [
        { label: 'Counter', cell: (x) => h('span', null, swatch(x.colour), x.name) },
        { label: 'max', cls: 'num', cell: (x) => (x.max === null ? 'not kept' : fmt.perSec(x.max)) },
      ],
      rows,
      { testid: 'vm-port-table' },
    ),
  );
}

function avgOf(a: Array<number | null> | undefined): number | null {
  const v = (a || []).filter((x): x is number => x !== null);
  return v.length ? v.reduce((x, y) => x + y, 0) / v.length : null;
}

function drawVMs(ctx: Ctx, out: TopResp | string, inn: TopResp | string): void {
  if (typeof out === 'string' || typeof inn === 'string') {
    showIn(els.extra, message('error', typeof out === 'string' ? out : (inn as string)));
    return;
  }
  const bytesMetric = ctx.state.metric === 'bits';
  const v = (r: TopRow) => (bytesMetric ? r.bytes : r.packets);
  const vms = new Map<string, { vm: string; sent: number; received: number }>();
  const add = (vm: string, sent: number, received: number) => {
    if (!vm) return;
    const x = vms.get(vm) ?? { vm, sent: 0, received: 0 };
    x.sent += sent;
    x.received += received;
    vms.set(vm, x);
  };
  out.rows.forEach((r) => add(String(r.key.src_vm ?? ''), v(r), 0));
  inn.rows.forEach((r) => add(String(r.key.dst_vm ?? ''), 0, v(r)));
  const list = [...vms.values()].sort((a, b) => b.sent + b.received - (a.sent + a.received));
  if (!list.length) {
    showIn(els.extra, message('empty', 'No VM of this project sent or received anything in this range.'));
    return;
  }
  const val = bytesMetric ? fmt.bytes : fmt.count;
  const max = Math.max(...list.map((x) => x.sent + x.received));
  showIn(
    els.extra,
    table(
      [
        { label: 'VM', cls: 'key', cell: (x) => x.vm },
        { label: 'Sent', cls: 'num', cell: (x) => val(x.sent) },
        { label: 'Received', cls: 'num', cell: (x) => val(x.received) },
        { label: 'Total', cls: 'num', cell: (x) => barCell(val(x.sent + x.received), max ? (x.sent + x.received) / max : 0) },
      ],
      list,
      { testid: 'project-vms', rowTitle: 'Click: open the VM page', onRow: (x) => ctx.set({ view: 'vm', vm: x.vm }) },
    ),
  );
}

export const vmPage: ViewImpl = { mount: mount('vm'), load: load('vm') };
export const projectPage: ViewImpl = { mount: mount('project'), load: load('project') };
