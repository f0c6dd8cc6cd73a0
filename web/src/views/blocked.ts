// Blocked: what security groups (and other drop rules) dropped
// (/api/v1/blocked), per protected VM, project and security group, with the
// dropped packets over time (drop samples in /api/v1/timeseries).
import { h, clear, select } from '../dom';
import { get, ApiError, type BlockedResp, type BlockedRow, type TimeseriesResp, type UnansweredResp, type UnansweredRow } from '../api';
import { rangeAndFilters } from '../state';
import { chart, type EChartsType } from '../charts';
import { type Ctx, type ViewImpl, panel, message, showIn, overlay, errorText, isAbort, filtersActive, Notes, table } from '../ui';
import { blockedTable, blockedHowTo, drawLines, lineStats } from './common';
import * as fmt from '../format';

const GROUPS: Array<[string, string]> = [
  ['', 'no grouping'],
  ['project', 'by project'],
  ['vm', 'by VM'],
  ['security_groups', 'by security group'],
];
const LIMIT = 500;

let chartEl: HTMLElement;
let summaryEl: HTMLElement;
let tableEl: HTMLElement;
let unansweredEl: HTMLElement;
let c: EChartsType | null = null;
let notes = new Notes();

function mount(root: HTMLElement, ctx: Ctx): void {
  const s = ctx.state;
  const cp = panel('Blocked packets/s', [], 'blocked-chart-panel');
  chartEl = h('div.chart.small', { 'data-testid': 'blocked-chart' });
  summaryEl = h('div.summary', { 'data-testid': 'blocked-summary' });
  cp.body.append(chartEl, summaryEl);
  const tp = panel('What security groups blocked', [select(s.group, GROUPS, (v) => ctx.set({ group: v }), { 'aria-label': 'Group', 'data-testid': 'blocked-group' })], 'blocked-panel');
  tableEl = tp.body;
  tableEl.append(message('loading', 'Loading…'));
  const up = panel('Unanswered connection attempts (inferred, not drops)', [], 'unanswered-panel');
  unansweredEl = up.body;
  notes = new Notes();
  root.append(notes.el, cp.el, tp.el, up.el);
  c = chart(chartEl);
}

function endText(ip: string, e?: { instance_name?: string; project_name?: string; port_id?: string } | null): string {
  const who = e ? e.instance_name || e.port_id || '' : '';
  return [ip, who, e?.project_name ? '· ' + e.project_name : ''].filter(Boolean).join(' ');
}

// The inference of /api/v1/unanswered: SYNs to which nothing came back.
// In memory in the collector, so it ignores the filters; the range's
// start limits it.
async function loadUnanswered(ctx: Ctx, from: string): Promise<void> {
  let r: UnansweredResp;
  try {
    r = await get<UnansweredResp>('unanswered', { from }, ctx.signal);
  } catch (e) {
    if (isAbort(e)) throw e;
    if (e instanceof ApiError && e.status === 404) {
      showIn(unansweredEl, message('info', 'This flowlens does not infer unanswered connection attempts.'));
      return;
    }
    showIn(unansweredEl, message('error', errorText(e)));
    return;
  }
  const note = h('p.note', { 'data-testid': 'unanswered-note' }, `An inference, not a drop: ${r.inference}; window ${r.window}. The filters above do not apply here.`);
  if (!r.rows.length) {
    showIn(unansweredEl, note, message('empty', 'No unanswered connection attempt in this range.'));
    return;
  }
  const cols = [
    { label: 'Source', cell: (x: UnansweredRow) => endText(x.src_ip, x.src) },
    { label: 'Destination', cell: (x: UnansweredRow) => endText(x.dst_ip, x.dst) },
    { label: 'Port', cls: 'num', cell: (x: UnansweredRow) => 'tcp/' + x.dst_port },
    { label: 'Attempts', cls: 'num', cell: (x: UnansweredRow) => fmt.int(x.attempts) },
    { label: 'SYN samples', cls: 'num', cell: (x: UnansweredRow) => fmt.int(x.syn_samples) },
    { label: 'First seen', cell: (x: UnansweredRow) => fmt.datetime(x.first_seen, true) },
    { label: 'Last seen', cell: (x: UnansweredRow) => fmt.datetime(x.last_seen, true) },
  ];
  showIn(unansweredEl, note, table(cols, r.rows, { testid: 'unanswered-table' }));
}

function groupKey(group: string, r: BlockedRow): string[] {
  if (group === 'project') return [r.project || '(none)'];
  if (group === 'vm') return [r.vm || '(none)'];
  if (group === 'security_groups') return r.security_groups && r.security_groups.length ? r.security_groups : [r.default ? '(default drop)' : '(not known)'];
  return [''];
}

async function load(ctx: Ctx): Promise<void> {
  const s = ctx.state;
  notes.reset();
  const q = rangeAndFilters(s);
  const una = loadUnanswered(ctx, String(q.from));
  // Drop samples are not traffic: only every-observation queries with
  // blocked!= select them.
  const ts = get<TimeseriesResp>('timeseries', { ...q, filter: [...q.filter, 'blocked!='], observations: 'all', metric: 'pps', by: '' }, ctx.signal).catch((e) => {
    if (isAbort(e)) throw e;
    return errorText(e);
  });
  let r: BlockedResp;
  try {
    r = await get<BlockedResp>('blocked', { ...q, limit: LIMIT }, ctx.signal);
    notes.add(r.notes);
  } catch (e) {
    if (isAbort(e)) throw e;
    showIn(tableEl, message('error', errorText(e)));
    c?.clear();
    overlay(chartEl, message('error', errorText(e)));
    clear(summaryEl);
    await ts;
    await una;
    return;
  }
  const rows = r.rows || [];
  const t = await ts;
  if (!rows.length && !r.total) {
    c?.clear();
    overlay(chartEl, message('empty', filtersActive(ctx) ? 'Nothing blocked matches the filters in this range.' : 'Nothing blocked in this range.'));
    clear(summaryEl);
    showIn(tableEl, message('empty', filtersActive(ctx) ? 'No drop matches the filters in this range.' : 'No drop in this range.'), blockedHowTo());
    await una;
    return;
  }
  if (typeof t === 'string') {
    c?.clear();
    overlay(chartEl, message('error', t));
  } else if (c) {
    overlay(chartEl, null);
    drawLines(c, [{ name: 'blocked', r: t, colour: '#d62728' }], fmt.pps);
    const st = lineStats(t);
    showIn(summaryEl, h('span', null, `avg ${fmt.pps(st.avg)}, max ${fmt.pps(st.max)}`));
  }
  summaryEl.prepend(h('b', null, `${fmt.int(r.total)} dropped packets in this range`), rows.length >= LIMIT ? ` (the ${LIMIT} largest causes and connections below) · ` : ' · ');

  await una;
  if (!s.group) {
    showIn(tableEl, blockedTable(ctx, rows));
    return;
  }
  const groups = new Map<string, BlockedRow[]>();
  for (const row of rows) {
    for (const k of groupKey(s.group, row)) {
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k)!.push(row);
    }
  }
  const count = (rs: BlockedRow[]) => rs.reduce((a, x) => a + x.count, 0);
  const sorted = [...groups.entries()].sort((a, b) => count(b[1]) - count(a[1]));
  const label = GROUPS.find(([g]) => g === s.group)![1].replace(/^by /, '');
  showIn(
    tableEl,
    ...sorted.map(([k, rs]) =>
      h(
        'section.group',
        { 'data-group': k },
        h(
          'h3',
          null,
          label + ' ',
          s.group === 'vm' && k !== '(none)'
            ? h('a', { href: '?view=vm&vm=' + encodeURIComponent(k), onclick: (ev: MouseEvent) => (ev.preventDefault(), ctx.set({ view: 'vm', vm: k })) }, k)
            : s.group === 'project' && k !== '(none)'
              ? h('a', { href: '?view=project&project=' + encodeURIComponent(k), onclick: (ev: MouseEvent) => (ev.preventDefault(), ctx.set({ view: 'project', project: k })) }, k)
              : h('b', null, k),
          h('small', null, ` · ${fmt.int(count(rs))} dropped packets`),
        ),
        blockedTable(ctx, rs),
      ),
    ),
  );
}

export const blocked: ViewImpl = { mount, load };
