// ECharts, tree-shaken to what the console draws; SVG renderer (crisp, and
// its text is in the DOM for tests).
import { use, init, registerMap, type EChartsType, type ComposeOption } from 'echarts/core';
import { LineChart, SankeyChart, ChordChart, ScatterChart } from 'echarts/charts';
import type { LineSeriesOption, SankeySeriesOption, ChordSeriesOption, ScatterSeriesOption } from 'echarts/charts';
import {
  GridComponent,
  TooltipComponent,
  GeoComponent,
} from 'echarts/components';
import type {
  GridComponentOption,
  TooltipComponentOption,
  GeoComponentOption,
} from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import { parts, tz } from './format';

use([
  LineChart,
  SankeyChart,
  ChordChart,
  ScatterChart,
  GridComponent,
  TooltipComponent,
  GeoComponent,
  SVGRenderer,
]);

export type Option = ComposeOption<
  | LineSeriesOption
  | SankeySeriesOption
  | ChordSeriesOption
  | ScatterSeriesOption
  | GridComponentOption
  | TooltipComponentOption
  | GeoComponentOption
>;

export { registerMap };
export type { EChartsType };

// Distinct, print-safe colours; "other" is always grey.
export const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#393b79',
  '#ad494a', '#637939', '#7b4173', '#3182bd', '#e6550d',
  '#31a354', '#756bb1', '#636363', '#fd8d3c', '#6baed6',
];
export const OTHER = '#b8bec6';

export function color(i: number, key?: string | null): string {
  if (key === 'other') return OTHER;
  return PALETTE[i % PALETTE.length];
}

const live = new Set<EChartsType>();

export function chart(el: HTMLElement): EChartsType {
  const c = init(el, undefined, { renderer: 'svg' });
  live.add(c);
  return c;
}

export function disposeAll(): void {
  for (const c of live) c.dispose();
  live.clear();
}

let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => live.forEach((c) => c.isDisposed() || c.resize()), 100);
});

export const AXIS = {
  axisLine: { lineStyle: { color: '#9aa3ad' } },
  axisLabel: { color: '#4a5560', fontSize: 11 },
  splitLine: { lineStyle: { color: '#e8ebef' } },
};

export const TOOLTIP_BASE = {
  backgroundColor: 'rgba(255,255,255,0.97)',
  borderColor: '#c4cad1',
  textStyle: { fontSize: 12, color: '#1d252c' },
  confine: true,
};

// Time axis labels in the zone in use (UTC or local), compact.
export function timeLabel(ms: number, spanSeconds: number): string {
  const d = parts(ms);
  const p = (n: number) => (n < 10 ? '0' : '') + n;
  const hm = p(d.h) + ':' + p(d.mi) + (spanSeconds <= 900 ? ':' + p(d.s) : '');
  if (spanSeconds > 2 * 86400) return p(d.mo) + '-' + p(d.d) + (d.h || d.mi ? ' ' + hm : '');
  return hm;
}

// ECharts' own time handling (tick positions, the tooltip's time) in the same zone.
export function useUTC(): boolean {
  return tz() === 'utc';
}

// Drag across a time chart to select a range (what ECharts' toolbox dataZoom
// does, without shipping it).
export function brushZoom(el: HTMLElement, c: EChartsType, onRange: (fromMs: number, toMs: number) => void): void {
  let x0 = -1;
  let box: HTMLElement | null = null;
  const local = (ev: MouseEvent) => {
    const r = el.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  };
  el.addEventListener('mousedown', (ev) => {
    if (ev.button !== 0 || ev.shiftKey || ev.ctrlKey || ev.metaKey) return;
    const [x, y] = local(ev);
    if (!c.containPixel({ gridIndex: 0 }, [x, y])) return;
    x0 = x;
    const move = (e: MouseEvent) => {
      const [x1] = local(e);
      if (!box && Math.abs(x1 - x0) > 4) {
        box = document.createElement('div');
        box.className = 'brush';
        el.appendChild(box);
      }
      if (box) {
        box.style.left = Math.min(x0, x1) + 'px';
        box.style.width = Math.abs(x1 - x0) + 'px';
      }
    };
    const up = (e: MouseEvent) => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
      if (!box) return;
      box.remove();
      box = null;
      const [x1] = local(e);
      const a = c.convertFromPixel({ xAxisIndex: 0 }, Math.min(x0, x1)) as number;
      const b = c.convertFromPixel({ xAxisIndex: 0 }, Math.max(x0, x1)) as number;
      if (isFinite(a) && isFinite(b) && b - a >= 1000) onRange(a, b);
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  });
}
