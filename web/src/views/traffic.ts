// Traffic: stacked time series by a dimension (top-N + other) and top-N tables.
import { h, clear, select, segmented } from '../dom';
import { get, type TimeseriesResp, type TopResp, type TopRow } from '../api';
import { common } from '../state';
import { options as dimOptions, label as dimLabel, short as dimShort } from '../dims';
import { chart, brushZoom, color, AXIS, TOOLTIP_BASE, timeLabel, useUTC, type EChartsType, type Option } from '../charts';
import { type Ctx, type ViewImpl, noFlowsYet, emptyRange, panel, message, showIn, overlay, errorText, isAbort, noDataText, setupCard, table, barCell, swatch, keyText, keyTitle, filterable, Notes, type Column } from '../ui';
import * as fmt from '../format';

let chartEl: HTMLElement;
let legendEl: HTMLElement;
let ts: EChartsType | null = null;
let setupEl: HTMLElement;
let gapsEl: HTMLElement;
let notes = new Notes();
let seriesKeys: Array<string | null> = [];
let tablePanels: Array<{ by: string; body: HTMLElement; title: HTMLElement }> = [];

const TOP_N: Array<[string, string]> = [['5', 'top 5'], ['10', 'top 10'], ['20', 'top 20']];

function mount(root: HTMLElement, ctx: Ctx): void {
  const s = ctx.state;
  setupEl = h('div');
  const tools = [
    segmented(s.metric, [['bits', 'bits/s'], ['packets', 'packets/s']], (v) => ctx.set({ metric: v as 'bits' | 'packets' }), { 'data-testid': 'metric' }),
    h('label', null, 'by ', select(s.by, dimOptions('total (no split)'), (v) => ctx.set({ by: v }), { 'data-testid': 'stack-by', 'aria-label': 'Stack by' })),
    select(String(s.top), TOP_N, (v) => ctx.set({ top: +v }), { 'aria-label': 'Number of series' }),
    h(
      'label.compare',
      { title: 'Overlay the total of the period just before this one (same length), shifted onto this range' },
      h('input', { type: 'checkbox', checked: s.compare, 'data-testid': 'compare', onchange: (ev: Event) => ctx.set({ compare: (ev.target as HTMLInputElement).checked }) }),
      ' previous period',
    ),
  ];
  const title = (s.metric === 'bits' ? 'Bits/s' : 'Packets/s') + (s.by ? ' by ' + dimLabel(s.by) : '');
  const p = panel(title, tools, 'ts-panel');
  chartEl = h('div.chart.ts', { 'data-testid': 'timeseries' });
  legendEl = h('div.legend', { 'data-testid': 'legend' });
  gapsEl = h('div.gaps', { 'data-testid': 'gaps' });
  p.body.append(h('div.ts-wrap', null, chartEl, legendEl), gapsEl);

  const grid = h('div.tables');
  tablePanels = s.tables.map((by, i) => {
    const [a, b = ''] = by.split(',');
    const change = (na: string, nb: string) => {
      const t = [...s.tables];
      t[i] = nb && nb !== na ? na + ',' + nb : na;
      ctx.set({ tables: t });
    };
    const remove = h('button.x', { type: 'button', title: 'Remove this table', onclick: () => ctx.set({ tables: s.tables.filter((_, j) => j !== i) }) }, '×');
    const tp = panel(
      h('span', null, select(a, dimOptions(), (v) => change(v, b), { 'aria-label': 'Table dimension' }), ' × ', select(b, dimOptions('—'), (v) => change(a, v), { 'aria-label': 'Second dimension' })),
      [s.tables.length > 1 ? remove : h('span')],
      'top-panel',
    );
    tp.el.dataset.by = by;
    tp.el.dataset.testid = 'top-' + by;
    tp.body.append(message('loading', 'Loading…'));
    grid.append(tp.el);
    return { by, body: tp.body, title: tp.head };
  });
  grid.append(
    h('button.addtable', { type: 'button', onclick: () => ctx.set({ tables: [...s.tables, 'dst_port'] }) }, '+ table'),
  );
  notes = new Notes();
  root.append(setupEl, notes.el, p.el, grid);
  ts = chart(chartEl);
  ts.on('click', (ev) => {
    const key = ev.seriesIndex !== undefined ? seriesKeys[ev.seriesIndex] : undefined;
    if (s.by && key !== undefined && key !== 'other') ctx.addFilter(s.by, key ?? '', !!(ev.event?.event as MouseEvent | undefined)?.shiftKey);
  });
  // Drag across the chart to zoom into that time range.
  brushZoom(chartEl, ts, (a, b) => {
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    ctx.set({ from: iso(a), to: iso(b) });
  });
}

async function load(ctx: Ctx): Promise<void> {
  const s = ctx.state;
  clear(setupEl);
  if (noFlowsYet(ctx)) setupEl.append(setupCard(ctx.status));
  notes.reset();
  const q = common(s);
  const jobs: Array<Promise<void>> = [];
  const metric = s.metric === 'bits' ? 'bps' : 'pps';
  jobs.push(
    get<TimeseriesResp>('timeseries', { ...q, metric, by: s.by, top: s.top }, ctx.signal)
      .then(async (r) => {
        notes.add(r.notes);
        // The previous period: the same length just before, at the same
        // step, drawn shifted onto this range.
        let prev: TimeseriesResp | null = null;
        const len = r.timestamps.length ? (Date.parse(r.to) - Date.parse(r.from)) / 1000 : 0;
        if (s.compare && len > 0) {
          const from = new Date(Date.parse(r.from) - len * 1000).toISOString();
          prev = await get<TimeseriesResp>('timeseries', { ...q, from, to: r.from, metric, by: '', step: r.step }, ctx.signal).catch((e) => {
            if (isAbort(e)) throw e;
            notes.add(['previous period: ' + errorText(e)]);
            return null;
          });
        }
        drawSeries(ctx, r, prev, len);
      })
      .catch((e) => {
        if (isAbort(e)) throw e;
        ts?.clear();
        clear(legendEl);
        overlay(chartEl, message('error', errorText(e)));
      }),
  );
  for (const tp of tablePanels) {
    jobs.push(
      get<TopResp>('top', { ...q, by: tp.by, metric: s.metric === 'bits' ? 'bytes' : 'packets', limit: 10 }, ctx.signal)
        .then((r) => {
          notes.add(r.notes);
          drawTable(ctx, tp.body, r);
        })
        .catch((e) => {
          if (isAbort(e)) throw e;
          showIn(tp.body, message('error', errorText(e)));
        }),
    );
  }
  await Promise.all(jobs);
}

function drawSeries(ctx: Ctx, r: TimeseriesResp, prev: TimeseriesResp | null = null, shiftSec = 0): void {
  if (!ts) return;
  const s = ctx.state;
  const unit = s.metric === 'bits' ? fmt.bps : fmt.pps;
  const times = (r.timestamps || []).map((t) => t * 1000);
  // values[i] is the rate over [timestamps[i], +step): with few steps, draw them as steps.
  const stepped = times.length > 0 && times.length < 60 && r.step > 0;
  const xmax = times.length ? times[times.length - 1] + (stepped ? r.step * 1000 : 0) : undefined;
  // "other" is always there, zeros when the top N hold everything: hide it then.
  const series = (r.series || []).filter((x) => x.key !== 'other' || x.values.some((v) => v));
  seriesKeys = series.map((x) => x.key);
  const span = times.length > 1 ? (times[times.length - 1] - times[0]) / 1000 : 3600;
  const total = series.reduce((acc, x) => acc + x.values.reduce<number>((a, v) => a + (v || 0), 0), 0);
  // null = the collector was not collecting in that step (a gap, not zero traffic).
  const isGap = (j: number) => series.length > 0 && series.every((x) => x.values[j] === null || x.values[j] === undefined);
  const gaps: Array<[number, number]> = [];
  const stepMs = r.step > 0 ? r.step * 1000 : times.length > 1 ? times[1] - times[0] : 0;
  times.forEach((t, j) => {
    if (!isGap(j)) return;
    const last = gaps[gaps.length - 1];
    if (last && last[1] === t) last[1] = t + stepMs;
    else gaps.push([t, t + stepMs]);
  });
  const allGap = times.length > 0 && gaps.length === 1 && gaps[0][0] === times[0] && gaps[0][1] >= times[times.length - 1] + stepMs;
  overlay(
    chartEl,
    allGap
      ? message('empty', 'flowlens was not collecting during this range: there is no data, not zero traffic.')
      : !series.length || total === 0
        ? emptyRange(ctx)
        : null,
  );
  showIn(
    gapsEl,
    ...(gaps.length && !allGap
      ? [
          h(
            'span',
            { title: 'Steps in which flowlens was not collecting (not running, or no aggregation interval stored): drawn as breaks, not as zero' },
            'Gaps: flowlens was not collecting ',
            gaps
              .slice(0, 5)
              .map(([a, b]) => fmt.datetime(a) + '–' + fmt.datetime(b).slice(11))
              .join(', ') + (gaps.length > 5 ? ` and ${gaps.length - 5} more` : ''),
            '.',
          ),
        ]
      : []),
  );

  // Legend table: what each colour is, with avg / max / p95 / last.
  const stats = series.map((x, i) => {
    const vals = x.values.filter((v): v is number => v !== null && v !== undefined);
    return { key: x.key === 'other' ? 'other' : keyText(x.key, s.by), raw: x.key as string | null, colour: color(i, x.key), ...fmt.stats(vals) };
  });
  // The previous period's total, on this range's time axis.
  const PREV = '#5b6770';
  const prevSeries = prev?.series?.[0];
  const prevData: Array<[number, number | null]> = prevSeries ? (prev!.timestamps || []).map((t, j) => [(t + shiftSec) * 1000, prevSeries.values[j] ?? null]) : [];
  if (prevSeries) {
    const vals = prevSeries.values.filter((v): v is number => v !== null && v !== undefined);
    stats.push({ key: 'previous period (total)', raw: '\u0000previous', colour: PREV, ...fmt.stats(vals) });
  }
  const cols: Column<(typeof stats)[number]>[] = [
    { label: s.by ? dimShort(s.by) : 'Series', cell: (x) => h('span', { title: keyTitle(x.raw, s.by) }, swatch(x.colour), x.key), csv: (x) => x.key },
    { label: 'avg', cls: 'num', cell: (x) => unit(x.avg), csv: (x) => x.avg },
    { label: 'max', cls: 'num', cell: (x) => unit(x.max), csv: (x) => x.max },
    { label: 'p95', cls: 'num', title: '95th percentile of the steps with data', cell: (x) => unit(x.p95), csv: (x) => x.p95 },
    { label: 'last', cls: 'num', title: 'The last step with data', cell: (x) => (x.last === null ? '–' : unit(x.last)), csv: (x) => x.last },
  ];
  showIn(
    legendEl,
    series.length
      ? table(cols, stats, {
          testid: 'legend-table',
          rowTitle: s.by ? 'Click: filter on this · shift-click: exclude' : undefined,
          onRow: s.by ? (x, ev) => filterable(s.by, x.raw) && x.raw !== 'other' && x.raw !== '\u0000previous' && ctx.addFilter(s.by, String(x.raw), ev.shiftKey) : undefined,
        })
      : h('span'),
  );

  const opt: Option = {
    animation: false,
    useUTC: useUTC(),
    grid: { left: 64, right: 12, top: 10, bottom: 24 },
    tooltip: {
      ...TOOLTIP_BASE,
      trigger: 'axis',
      axisPointer: { type: 'line' },
      order: 'seriesDesc',
      valueFormatter: (v) => (v === null || v === undefined || (typeof v === 'number' && isNaN(v)) ? 'no data' : unit(v as number)),
    },
    xAxis: {
      type: 'time',
      ...AXIS,
      splitLine: { show: false },
      axisLabel: { ...AXIS.axisLabel, formatter: (v: number) => timeLabel(v, span), hideOverlap: true },
      min: times[0],
      max: xmax,
    },
    yAxis: { type: 'value', ...AXIS, axisLabel: { ...AXIS.axisLabel, formatter: (v: number) => unit(v) } },
    series: series.map((x, i) => ({
      type: 'line',
      name: x.key === 'other' ? 'other' : keyText(x.key, s.by),
      stack: 'total',
      symbol: 'none',
      // Down-sampling would bridge the gaps (nulls): only without them.
      sampling: gaps.length ? undefined : 'lttb',
      connectNulls: false,
      lineStyle: { width: 1 },
      areaStyle: { opacity: x.key === 'other' ? 0.5 : 0.75 },
      color: color(i, x.key),
      emphasis: { focus: 'series' },
      triggerLineEvent: true,
      step: stepped ? 'end' : undefined,
      data: stepped ? [...times.map((t, j) => [t, x.values[j] ?? null]), [xmax!, x.values[times.length - 1] ?? null]] : times.map((t, j) => [t, x.values[j] ?? null]),
    })),
  };
  if (prevData.length) {
    (opt.series as unknown[]).push({
      type: 'line',
      name: 'previous period (total)',
      symbol: 'none',
      connectNulls: false,
      lineStyle: { width: 1.5, type: 'dashed' },
      color: PREV,
      step: stepped ? 'end' : undefined,
      data: prevData,
      z: 5,
    });
  }
  ts.setOption(opt, true);
}

function drawTable(ctx: Ctx, body: HTMLElement, r: TopResp): void {
  const s = ctx.state;
  const dims = r.by && r.by.length ? r.by : [];
  const bytesMetric = s.metric === 'bits';
  const val = (x: { bytes: number; packets: number }) => (bytesMetric ? x.bytes : x.packets);
  const totalV = r.total ? val(r.total) : (r.rows || []).reduce((a, x) => a + val(x), 0) + (r.other ? val(r.other) : 0);
  const rows = r.rows || [];
  if (!rows.length) {
    showIn(body, message('empty', noDataText(ctx)));
    return;
  }
  const cols: Column<TopRow>[] = [
    ...dims.map((d) => ({ label: dimShort(d), cls: 'key', title: dimLabel(d), cell: (x: TopRow) => h('span', { title: keyTitle(x.key[d], d) }, keyText(x.key[d], d)) })),
    {
      label: bytesMetric ? 'Bytes' : 'Packets',
      cls: 'num',
      cell: (x: TopRow) => (bytesMetric ? fmt.bytes(x.bytes) : fmt.count(x.packets)),
      csv: (x: TopRow) => (bytesMetric ? x.bytes : x.packets),
      width: '76px',
    },
    { label: bytesMetric ? 'bps' : 'pps', cls: 'num', cell: (x: TopRow) => (bytesMetric ? fmt.bps(x.bps) : fmt.pps(x.pps)), csv: (x: TopRow) => (bytesMetric ? x.bps : x.pps), width: '84px' },
    { label: 'Share', cls: 'num', title: 'Share of the total of the whole range (all traffic matching the filters), not of the rows shown', cell: (x: TopRow) => barCell(fmt.pct(totalV ? val(x) / totalV : 0), totalV ? val(x) / totalV : 0), csv: (x: TopRow) => (totalV ? +(val(x) / totalV).toFixed(6) : 0), width: '124px' },
  ];
  const pad = dims.slice(1).map(() => '');
  const foot: Array<Array<string>> = [];
  if (r.other && val(r.other) > 0) foot.push(['Other', ...pad, bytesMetric ? fmt.bytes(r.other.bytes) : fmt.count(r.other.packets), '', fmt.pct(totalV ? val(r.other) / totalV : 0)]);
  if (r.total) foot.push(['Total (range)', ...pad, bytesMetric ? fmt.bytes(r.total.bytes) : fmt.count(r.total.packets), '', '']);
  showIn(
    body,
    table(cols, rows, {
      testid: 'top-table',
      rowTitle: 'Click: filter on this · shift-click: exclude',
      onRow: (x, ev) =>
        ctx.addFilters(dims.filter((d) => filterable(d, x.key[d])).map((d) => ({ dim: d, value: String(x.key[d]), neg: ev.shiftKey }))),
      foot,
    }),
  );
}

export const traffic: ViewImpl = { mount, load };
