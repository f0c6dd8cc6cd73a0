// Pieces shared by the Blocked view and the VM and project pages: a small
// time chart of a few lines, the table of what security groups blocked and
// its empty state.
import { h } from '../dom';
import type { BlockedRow, TimeseriesResp } from '../api';
import { color, AXIS, TOOLTIP_BASE, timeLabel, useUTC, type EChartsType, type Option } from '../charts';
import { type Ctx, table, message, keyText, type Column } from '../ui';
import * as fmt from '../format';

// docs/openstack.md, "What security groups blocked" (also /usr/share/doc/flowlens/openstack.md).
export const BLOCKED_DOC = 'https://github.com/flowlens/flowlens/blob/main/docs/openstack.md#what-security-groups-blocked';

export interface Line {
  name: string;
  r: TimeseriesResp;
  colour?: string;
}

// Lines over time from time series answers (their first series each, or the
// sum of all of them); null steps are gaps.
export function drawLines(c: EChartsType, lines: Line[], unit: (v: number) => string): void {
  const times = (lines[0]?.r.timestamps || []).map((t) => t * 1000);
  const span = times.length > 1 ? (times[times.length - 1] - times[0]) / 1000 : 3600;
  const sum = (r: TimeseriesResp) =>
    (r.timestamps || []).map((_, j) => {
      const vals = (r.series || []).map((x) => x.values[j]);
      return vals.every((v) => v === null || v === undefined) && vals.length ? null : vals.reduce<number>((a, v) => a + (v || 0), 0);
    });
  const opt: Option = {
    animation: false,
    useUTC: useUTC(),
    grid: { left: 64, right: 12, top: 10, bottom: 24 },
    tooltip: {
      ...TOOLTIP_BASE,
      trigger: 'axis',
      valueFormatter: (v) => (v === null || v === undefined || (typeof v === 'number' && isNaN(v)) ? 'no data' : unit(v as number)),
    },
    xAxis: { type: 'time', ...AXIS, splitLine: { show: false }, axisLabel: { ...AXIS.axisLabel, formatter: (v: number) => timeLabel(v, span), hideOverlap: true }, min: times[0], max: times[times.length - 1] },
    yAxis: { type: 'value', ...AXIS, axisLabel: { ...AXIS.axisLabel, formatter: (v: number) => unit(v) } },
    series: lines.map((l, i) => {
      const vals = sum(l.r);
      return {
        type: 'line' as const,
        name: l.name,
        symbol: 'none',
        connectNulls: false,
        lineStyle: { width: 1.5 },
        areaStyle: { opacity: 0.25 },
        color: l.colour ?? color(i),
        data: times.map((t, j) => [t, vals[j] ?? null]),
      };
    }),
  };
  c.setOption(opt, true);
}

// avg, max, p95 and last of a line, for its legend.
export function lineStats(r: TimeseriesResp): { avg: number; max: number; p95: number; last: number | null; total: number } {
  const vals: number[] = [];
  (r.timestamps || []).forEach((_, j) => {
    const v = (r.series || []).map((x) => x.values[j]);
    if (v.some((x) => x !== null && x !== undefined)) vals.push(v.reduce<number>((a, x) => a + (x || 0), 0));
  });
  return fmt.stats(vals);
}

// How to make flowlens see what security groups drop, for the empty states.
export function blockedHowTo(): HTMLElement {
  return h(
    'div.howto',
    { 'data-testid': 'blocked-howto' },
    h('p', null, 'flowlens learns what security groups drop from the cloud itself; turn on the source of your Neutron backend:'),
    h(
      'ul',
      null,
      h(
        'li',
        null,
        h('b', null, 'ML2/OVN'),
        ': OVN samples every dropped packet over IPFIX. ',
        h('code', null, 'flowlens ovn configure --target THIS_HOST:4739 --apply'),
        ' sets it up (the collector set on each hypervisor\'s br-int, the drop options in the Northbound), and ',
        h('code', null, 'enrich.openstack.ovn'),
        ' tells flowlens where the OVN databases are, to name the ACL and its security group.',
      ),
      h(
        'li',
        null,
        h('b', null, 'ML2/OVS'),
        ' (openvswitch firewall driver): turn on Neutron\'s packet logging (',
        h('code', null, 'service_plugins = log'),
        ', a log object for the security groups) and list its log files in ',
        h('code', null, 'input.neutron_log.files'),
        '.',
      ),
    ),
    h('p', null, 'Details: ', h('a', { href: BLOCKED_DOC, target: '_blank', rel: 'noopener noreferrer' }, 'docs/openstack.md, “What security groups blocked”'), '.'),
  );
}

function endText(ip: string, vm: string, project: string): HTMLElement {
  return h('span.end', null, ip || '(none)', vm ? h('small', null, ' ' + vm + (project ? ' · ' + project : '')) : null);
}

export function causeText(r: BlockedRow): string {
  if (r.reason) return r.reason + (r.stage ? ` (${r.stage})` : '');
  const sgs = (r.security_groups || []).join(', ');
  if (r.default) return 'no rule allowed it' + (sgs ? ': ' + sgs : '');
  if (r.rule) return 'rule ' + r.rule + (sgs ? ' of ' + sgs : '');
  return sgs || (r.source === 'neutron-packet-log' ? 'logged drop' : '–');
}

const SOURCE_TEXT: Record<string, string> = { 'ovn-drop-sampling': 'OVN', 'neutron-packet-log': 'Neutron log' };

// The rows of /api/v1/blocked; a click on one filters on its connection.
export function blockedTable(ctx: Ctx, rows: BlockedRow[], opts: { testid?: string; compact?: boolean } = {}): HTMLElement {
  const cols: Column<BlockedRow>[] = [
    ...(opts.compact
      ? []
      : [
          { label: 'Protected VM', cls: 'key', title: 'The receiver for ingress rules (to-lport), the sender for egress rules (from-lport)', cell: (r: BlockedRow) => h('span', { title: r.port ? 'Neutron port ' + r.port : undefined }, r.vm || '(none)') },
          { label: 'Project', cls: 'key', cell: (r: BlockedRow) => r.project || '(none)' },
        ]),
    { label: 'Security group / cause', cls: 'key', cell: (r) => h('span', { title: [r.acl && 'ACL ' + r.acl, r.logical_flow && 'logical flow ' + r.logical_flow, r.direction].filter(Boolean).join(' · ') }, causeText(r)) },
    { label: 'Source', cls: 'key', cell: (r) => endText(r.src_ip, r.src_vm, r.src_project) },
    { label: 'Destination', cls: 'key', cell: (r) => endText(r.dst_ip, r.dst_vm, r.dst_project) },
    { label: 'Proto', cls: 'key', cell: (r) => r.proto || '–' },
    { label: 'Port', cls: 'key', cell: (r) => keyText(r.dst_port, 'dst_port') },
    { label: 'Count', cls: 'num', title: 'Dropped packets', cell: (r) => fmt.int(r.count) },
    { label: 'First seen', cls: 'num', cell: (r) => fmt.datetime(r.first_seen) },
    { label: 'Last seen', cls: 'num', cell: (r) => fmt.datetime(r.last_seen) },
    { label: 'From', cls: 'key', title: 'Where flowlens learnt it: OVN drop sampling (ML2/OVN) or Neutron packet logging (ML2/OVS)', cell: (r) => SOURCE_TEXT[r.source] ?? r.source },
  ];
  if (!rows.length) return message('empty', 'Nothing blocked.');
  return table(cols, rows, {
    testid: opts.testid ?? 'blocked-table',
    rowTitle: 'Click: filter on this source and destination · shift-click: exclude',
    onRow: (r, ev) =>
      ctx.addFilters(
        [
          { dim: 'src_ip', value: r.src_ip, neg: ev.shiftKey },
          { dim: 'dst_ip', value: r.dst_ip, neg: ev.shiftKey },
        ].filter((f) => f.value),
      ),
  });
}
