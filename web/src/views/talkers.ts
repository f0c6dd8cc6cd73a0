// Who talks to whom: /api/v1/matrix as a sankey (sources left, destinations
// right: never a cycle) or a chord diagram, with the links as a table.
import { h, select, segmented } from '../dom';
import { get, type MatrixResp, type MatrixLink, type TopResp, type Counts } from '../api';
import { common, LEVELS } from '../state';
import { chart, color, TOOLTIP_BASE, type EChartsType, type Option } from '../charts';
import { type Ctx, type ViewImpl, noFlowsYet, emptyRange, panel, message, showIn, overlay, errorText, isAbort, setupCard, table, barCell, Notes, type Column } from '../ui';
import * as fmt from '../format';

const LIMITS: Array<[string, string]> = [
  ['20', '20 links'],
  ['40', '40 links'],
  ['100', '100 links'],
];

let chartEl: HTMLElement;
let linksEl: HTMLElement;
let setupEl: HTMLElement;
let c: EChartsType | null = null;
let labels = new Map<string, string>();
// The mixed and country levels' nodes: what each is, and its value.
let kinds = new Map<string, { kind: string; value: string }>();

// The filter one end of a conversation stands for: its level's dimension,
// or, at the mixed and country levels, its node's kind ("this cloud" has
// none: null).
function filterOf(level: string, side: 'src' | 'dst', id: string): { dim: string; value: string } | null {
  const k = kinds.get(id);
  if (!k) {
    const [sd, dd] = dims(level);
    return { dim: side === 'src' ? sd : dd, value: id };
  }
  if (k.kind === 'cloud') return null;
  return { dim: `${side}_${k.kind}`, value: k.value };
}

function filters(level: string, pairs: Array<['src' | 'dst', string]>, neg: boolean): Array<{ dim: string; value: string; neg: boolean }> {
  const out = [];
  for (const [side, id] of pairs) {
    const f = filterOf(level, side, id);
    if (f) out.push({ ...f, neg });
  }
  return out;
}
let notes = new Notes();

function dims(level: string): [string, string] {
  return level === 'ip' ? ['src_ip', 'dst_ip'] : [`src_${level}`, `dst_${level}`];
}

function mount(root: HTMLElement, ctx: Ctx): void {
  const s = ctx.state;
  setupEl = h('div');
  const tools = [
    segmented(s.level, LEVELS, (v) => ctx.set({ level: v }), { 'data-testid': 'level' }),
    segmented(s.chart, [['sankey', 'Sankey'], ['chord', 'Chord']], (v) => ctx.set({ chart: v as 'sankey' | 'chord' }), { 'data-testid': 'chart-kind' }),
    select(String(s.limit), LIMITS, (v) => ctx.set({ limit: +v }), { 'aria-label': 'Number of links' }),
  ];
  const p = panel('Who talks to whom', tools, 'matrix-panel');
  chartEl = h('div.chart.matrix', { 'data-testid': 'matrix' });
  p.body.append(chartEl);
  const lp = panel('Conversations', [], 'links-panel');
  linksEl = lp.body;
  notes = new Notes();
  root.append(setupEl, notes.el, h('div.split', null, p.el, lp.el));
  c = chart(chartEl);
  c.on('click', (ev) => {
    const shift = !!(ev.event?.event as MouseEvent | undefined)?.shiftKey;
    const d = ev.data as { id?: string; source?: string; target?: string };
    if (ev.dataType === 'edge' && d.source && d.target) {
      const fs = filters(s.level, [['src', unprefix(d.source)], ['dst', unprefix(d.target)]], shift);
      if (fs.length) ctx.addFilters(fs);
    } else if (d.id) {
      const src = s.chart === 'chord' || d.id.startsWith('s:');
      const f = filterOf(s.level, src ? 'src' : 'dst', unprefix(d.id));
      if (f) ctx.addFilter(f.dim, f.value, shift);
    }
  });
}

function unprefix(id: string): string {
  return id.replace(/^[sd]:/, '');
}

async function load(ctx: Ctx): Promise<void> {
  const s = ctx.state;
  showIn(setupEl);
  if (noFlowsYet(ctx)) setupEl.append(setupCard(ctx.status));
  notes.reset();
  let r: MatrixResp;
  let total: Counts | null = null;
  try {
    // Shares are of the whole range's total: the matrix answer's own when it
    // has one, else the total of a one-row top query with the same filters.
    const metric = s.metric === 'bits' ? 'bytes' : 'packets';
    const tot = get<TopResp>('top', { ...common(s), by: 'proto', metric, limit: 1 }, ctx.signal).catch((e) => {
      if (isAbort(e)) throw e;
      return null;
    });
    r = await get<MatrixResp>('matrix', { ...common(s), level: s.level, limit: s.limit }, ctx.signal);
    const t = await tot;
    total = r.total ?? t?.total ?? null;
    notes.add(r.notes);
  } catch (e) {
    if (isAbort(e)) throw e;
    c?.clear();
    overlay(chartEl, message('error', errorText(e)));
    showIn(linksEl);
    return;
  }
  draw(ctx, r, total);
}

function draw(ctx: Ctx, r: MatrixResp, rangeTotal: Counts | null): void {
  const s = ctx.state;
  const useBytes = s.metric === 'bits';
  const links = (r.links || []).filter((l) => (useBytes ? l.bytes : l.packets) > 0);
  labels = new Map((r.nodes || []).map((n) => [n.id, n.label || n.id]));
  kinds = new Map((r.nodes || []).filter((n) => n.kind).map((n) => [n.id, { kind: n.kind!, value: n.value ?? '' }]));
  const name = (id: string) => labels.get(id) ?? id;
  const v = (l: MatrixLink) => (useBytes ? l.bytes : l.packets);
  const vf = useBytes ? fmt.bytes : (n: number) => fmt.count(n) + ' packets';

  if (!links.length) {
    c?.clear();
    const needs = s.level === 'country' ? 'GeoIP enrichment' : s.level === 'mixed' ? 'the OpenStack or GeoIP enrichment' : 'the OpenStack enrichment (Neutron ports)';
    const txt =
      s.level !== 'ip' && !noFlowsYet(ctx)
        ? `No conversations at the ${s.level} level in this range. This level needs ${needs}; addresses without a ${s.level} are left out. The IP level shows every conversation.`
        : '';
    overlay(chartEl, txt ? message('empty', txt) : emptyRange(ctx));
    showIn(linksEl, message('empty', 'No conversations.'));
    return;
  }
  overlay(chartEl, null);

  // The links shown (label sizes) and the whole range (shares).
  const total = links.reduce((a, l) => a + v(l), 0);
  const share = rangeTotal ? (useBytes ? rangeTotal.bytes : rangeTotal.packets) : total;
  const cols: Column<MatrixLink>[] = [
    { label: 'Source', cls: 'key', cell: (l) => name(l.source) },
    { label: 'Destination', cls: 'key', cell: (l) => name(l.target) },
    { label: useBytes ? 'Bytes' : 'Packets', cls: 'num', cell: (l) => (useBytes ? fmt.bytes(l.bytes) : fmt.count(l.packets)), csv: (l) => (useBytes ? l.bytes : l.packets) },
    {
      label: 'Share',
      cls: 'num',
      title: 'Share of the total of the whole range (all traffic matching the filters), not of the conversations shown',
      cell: (l) => barCell(fmt.pct(share ? v(l) / share : 0), share ? v(l) / share : 0),
      csv: (l) => (share ? +(v(l) / share).toFixed(6) : 0),
    },
  ];
  showIn(
    linksEl,
    table(cols, [...links].sort((a, b) => v(b) - v(a)), {
      testid: 'links-table',
      rowTitle: 'Click: filter on this pair · shift-click: exclude',
      onRow: (l, ev) => {
        const fs = filters(s.level, [['src', l.source], ['dst', l.target]], ev.shiftKey);
        if (fs.length) ctx.addFilters(fs);
      },
      foot: rangeTotal ? [['Total (range)', '', useBytes ? fmt.bytes(rangeTotal.bytes) : fmt.count(rangeTotal.packets), '']] : undefined,
    }),
  );

  // One colour per address, the same on both sides.
  const ids = [...new Set(links.flatMap((l) => [l.source, l.target]))];
  const colourOf = new Map(ids.map((id, i) => [id, color(i)]));
  const tooltip = {
    ...TOOLTIP_BASE,
    trigger: 'item' as const,
    formatter: (p: unknown) => {
      const x = p as { dataType?: string; data: { source?: string; target?: string; id?: string; value?: number } ; value?: number };
      if (x.dataType === 'edge') return `${name(unprefix(x.data.source!))} → ${name(unprefix(x.data.target!))}<br><b>${vf(x.value ?? 0)}</b>`;
      return `${name(unprefix(x.data.id ?? ''))}<br><b>${vf(x.value ?? 0)}</b>`;
    },
  };
  let opt: Option;
  if (s.chart === 'sankey') {
    const srcs = [...new Set(links.map((l) => l.source))];
    const dsts = [...new Set(links.map((l) => l.target))];
    // Labels only for nodes tall enough to hold one (the rest: tooltip).
    const sumBy = (ids: string[], side: 'source' | 'target') =>
      new Map(ids.map((id) => [id, links.filter((l) => l[side] === id).reduce((a, l) => a + v(l), 0)]));
    const srcV = sumBy(srcs, 'source');
    const dstV = sumBy(dsts, 'target');
    const small = (x: number) => (total ? x / total < 0.02 : false);
    opt = {
      animation: false,
      tooltip,
      series: [
        {
          type: 'sankey',
          left: 8,
          right: 8,
          top: 24,
          bottom: 8,
          nodeWidth: 12,
          nodeGap: 8,
          layoutIterations: 32,
          draggable: false,
          emphasis: { focus: 'adjacency' },
          lineStyle: { color: 'gradient', opacity: 0.35, curveness: 0.5 },
          label: { fontSize: 11, color: '#1d252c', formatter: (p: { data: unknown }) => name(unprefix((p.data as { id: string }).id)) },
          levels: [
            { depth: 0, label: { position: 'right' } },
            { depth: 1, label: { position: 'left' } },
          ],
          data: [
            ...srcs.map((id) => ({ id: 's:' + id, name: 's:' + id, depth: 0, itemStyle: { color: colourOf.get(id) }, label: small(srcV.get(id)!) ? { show: false } : undefined })),
            ...dsts.map((id) => ({ id: 'd:' + id, name: 'd:' + id, depth: 1, itemStyle: { color: colourOf.get(id) }, label: small(dstV.get(id)!) ? { show: false } : undefined })),
          ],
          links: links.map((l) => ({ source: 's:' + l.source, target: 'd:' + l.target, value: v(l) })),
        },
      ],
      graphic: undefined,
    } as Option;
    // Column headings.
    chartEl.dataset.left = 'Sources';
    chartEl.dataset.right = 'Destinations';
  } else {
    delete chartEl.dataset.left;
    delete chartEl.dataset.right;
    opt = {
      animation: false,
      tooltip,
      series: [
        {
          type: 'chord',
          center: ['50%', '52%'],
          radius: ['68%', '73%'],
          padAngle: 1.5,
          minAngle: 2,
          clockwise: true,
          emphasis: { focus: 'adjacency' },
          label: { show: true, fontSize: 11, color: '#1d252c', formatter: (p: { data: unknown }) => name((p.data as { id: string }).id) },
          lineStyle: { color: 'source', opacity: 0.45 },
          data: ids.map((id) => {
            const through = links.filter((l) => l.source === id || l.target === id).reduce((a, l) => a + v(l), 0);
            return { id, name: id, itemStyle: { color: colourOf.get(id) }, label: total && through / total < 0.02 ? { show: false } : undefined };
          }),
          links: links.map((l) => ({ source: l.source, target: l.target, value: v(l) })),
        },
      ],
    } as Option;
  }
  c?.setOption(opt, true);
}

export const talkers: ViewImpl = { mount, load };
