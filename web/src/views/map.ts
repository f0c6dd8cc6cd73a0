// World map of external peers (/api/v1/geo). The world geometry ships in the
// bundle (world-atlas TopoJSON, loaded on first use): no tile server.
import { h } from '../dom';
import { get, type GeoResp, type GeoPoint } from '../api';
import { common } from '../state';
import { chart, registerMap, TOOLTIP_BASE, type EChartsType, type Option } from '../charts';
import { type Ctx, type ViewImpl, noFlowsYet, panel, message, showIn, overlay, errorText, isAbort, setupCard, table, barCell, swatch, Notes, type Column } from '../ui';
import * as fmt from '../format';

const OUT = '#d9480f';
const IN = '#1c7ed6';

let chartEl: HTMLElement;
let peersEl: HTMLElement;
let setupEl: HTMLElement;
let creditEl: HTMLElement;
let c: EChartsType | null = null;
let world: Promise<void> | null = null;

type Ring = number[][];
type Geometry = { type: string; coordinates: Ring[] | Ring[][] } | null;

// Rings that cross the antimeridian (Fiji, Chukotka) would be drawn as
// stripes across the whole map: pin their far-side points to the edge.
let notes = new Notes();

function clampAntimeridian(g: Geometry): void {
  if (!g) return;
  const polys = (g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : []) as Ring[][];
  for (const poly of polys) {
    for (const ring of poly) {
      let jump = false;
      for (let i = 1; i < ring.length && !jump; i++) jump = Math.abs(ring[i][0] - ring[i - 1][0]) > 180;
      if (!jump) continue;
      const east = ring.filter((p) => p[0] > 0).length >= ring.length / 2;
      for (const p of ring) if (east ? p[0] < 0 : p[0] > 0) p[0] = east ? 180 : -180;
    }
  }
}

function loadWorld(): Promise<void> {
  if (!world) {
    world = Promise.all([import('topojson-client'), import('world-atlas/countries-110m.json')]).then(([topo, atlas]) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const topology = ((atlas as any).default ?? atlas) as any;
      const fc = topo.feature(topology, topology.objects.countries) as unknown as { type: string; features: Array<{ properties: { name?: string } }> };
      fc.features = fc.features.filter((f) => f.properties?.name !== 'Antarctica');
      fc.features.forEach((f) => clampAntimeridian((f as unknown as { geometry: Geometry }).geometry));
      registerMap('world', fc as never);
    });
  }
  return world;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

// The credit the GeoIP databases' licence asks for (DB-IP Lite: CC BY 4.0).
function attribution(ctx: Ctx): HTMLElement[] {
  const a = ctx.status?.enrichment?.geoip?.attribution;
  if (!a) return [];
  const link = (href: string, text: string) => h('a', { href, target: '_blank', rel: 'noopener' }, text);
  return [
    h('span', { 'data-testid': 'geoip-attribution', style: { fontSize: '12px', color: 'var(--muted)', marginLeft: '12px' } }, link(a.url, a.text), ' (', link(a.license_url, a.license), ')'),
  ];
}

function mount(root: HTMLElement, ctx: Ctx): void {
  setupEl = h('div');
  creditEl = h('span');
  const p = panel('External peers', [h('span.key', null, swatch(OUT), 'outbound ', swatch(IN), 'inbound'), creditEl], 'map-panel');
  chartEl = h('div.chart.worldmap', { 'data-testid': 'map' });
  p.body.append(chartEl);
  const tp = panel('Peers by traffic', [], 'peers-panel');
  peersEl = tp.body;
  notes = new Notes();
  root.append(setupEl, notes.el, h('div.split.map-split', null, p.el, tp.el));
  c = chart(chartEl);
  c.on('click', (ev) => {
    const d = ev.data as { ip?: string; direction?: string } | undefined;
    if (d?.ip) ctx.addFilter(d.direction === 'inbound' ? 'src_ip' : 'dst_ip', d.ip, !!(ev.event?.event as MouseEvent | undefined)?.shiftKey);
  });
}

async function load(ctx: Ctx): Promise<void> {
  showIn(setupEl);
  showIn(creditEl, ...attribution(ctx));
  if (noFlowsYet(ctx)) setupEl.append(setupCard(ctx.status));
  notes.reset();
  let r: GeoResp;
  try {
    const [, resp] = await Promise.all([loadWorld(), get<GeoResp>('geo', { ...common(ctx.state), limit: 250 }, ctx.signal)]);
    r = resp;
    notes.add(r.notes);
  } catch (e) {
    if (isAbort(e)) throw e;
    overlay(chartEl, message('error', errorText(e)));
    return;
  }
  // An address can appear once per direction.
  const points = (r.points || []).filter((p) => isFinite(p.lat) && isFinite(p.lon));
  const max = points.reduce((a, p) => Math.max(a, p.bytes || 0), 0);
  const size = (b: number) => (max ? 5 + 25 * Math.sqrt((b || 0) / max) : 6);
  const series = (dir: 'outbound' | 'inbound', colour: string) => ({
    type: 'scatter' as const,
    name: dir,
    coordinateSystem: 'geo' as const,
    itemStyle: { color: colour, opacity: 0.75, borderColor: '#fff', borderWidth: 0.5 },
    data: points
      .filter((p) => (dir === 'inbound' ? p.direction === 'inbound' : p.direction !== 'inbound'))
      .map((p) => ({ name: p.ip, ip: p.ip, direction: p.direction, value: [p.lon, p.lat, p.bytes], symbolSize: size(p.bytes), where: [p.city, p.country].filter(Boolean).join(', ') })),
  });
  const opt: Option = {
    animation: false,
    tooltip: {
      ...TOOLTIP_BASE,
      trigger: 'item',
      formatter: (p: unknown) => {
        const x = p as { data?: { ip: string; where: string; direction: string; value: number[] } };
        if (!x.data?.ip) return '';
        const dir = x.data.direction === 'inbound' ? 'inbound: from this address' : 'outbound: to this address';
        return `<b>${esc(x.data.ip)}</b> (${dir})<br>${esc(x.data.where || '')}<br>${fmt.bytes(x.data.value[2])}`;
      },
    },
    geo: {
      map: 'world',
      roam: true,
      silent: true,
      top: 8,
      bottom: 8,
      left: 8,
      right: 8,
      itemStyle: { areaColor: '#e9edf1', borderColor: '#b9c2cc', borderWidth: 0.5 },
      emphasis: { disabled: true },
      select: { disabled: true },
    },
    series: [series('outbound', OUT), series('inbound', IN)],
  };
  c?.setOption(opt, true);

  if (!points.length) {
    overlay(
      chartEl,
      message(
        'empty',
        h('b', null, 'No geolocated peers in this time range.'),
        h('br'),
        'External peers appear here, sized by traffic, when flows are enriched with GeoIP (country, city). Private and internal addresses are never placed on the map.',
        ...(ctx.status?.enrichment?.geoip?.attribution
          ? []
          : [
              h('br'),
              'No GeoIP database yet? Run ',
              h('code', null, 'flowlens geoip update'),
              ' (free DB-IP Lite databases, CC BY 4.0) or set ',
              h('code', null, 'enrich.geoip.download.enabled: true'),
              ' to let the collector fetch them, or list your own in ',
              h('code', null, 'enrich.geoip.city_databases'),
              '.',
            ]),
      ),
    );
    showIn(peersEl, message('empty', 'No external peers located.'));
    return;
  }
  overlay(chartEl, null);
  const sorted = [...points].sort((a, b) => b.bytes - a.bytes);
  const cols: Column<GeoPoint>[] = [
    { label: 'Peer', cls: 'key', cell: (p) => h('span', null, swatch(p.direction === 'inbound' ? IN : OUT), p.ip) },
    { label: 'Where', cell: (p) => [p.city, p.country].filter(Boolean).join(', ') || '–' },
    { label: 'AS', cls: 'num', cell: (p) => (p.asn ? 'AS' + p.asn : '–'), csv: (p) => (p.asn ? 'AS' + p.asn : '') },
    { label: 'AS organisation', cell: (p) => p.as_org || '–', csv: (p) => p.as_org || '' },
    { label: 'Direction', cell: (p) => p.direction || '', csvOnly: true },
    { label: 'Bytes', cls: 'num', cell: (p) => barCell(fmt.bytes(p.bytes), max ? p.bytes / max : 0, p.direction === 'inbound' ? IN : OUT), csv: (p) => p.bytes },
  ];
  showIn(
    peersEl,
    table(cols, sorted.slice(0, 100), {
      testid: 'peers-table',
      rowTitle: 'Click: filter on this peer · shift-click: exclude',
      onRow: (p, ev) => ctx.addFilter(p.direction === 'inbound' ? 'src_ip' : 'dst_ip', p.ip, ev.shiftKey),
    }),
  );
}

export const map: ViewImpl = { mount, load };
