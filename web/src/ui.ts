// Shared pieces: panels, tables, empty states, the setup hint.
import { h, clear } from './dom';
import type { Status } from './api';
import type { State, Filter } from './state';
import * as fmt from './format';

export interface Ctx {
  state: State;
  status: Status | null;
  signal: AbortSignal;
  set(patch: Partial<State>): void;
  addFilter(dim: string, value: string, neg?: boolean): void;
  addFilters(fs: Filter[]): void;
}

export interface ViewImpl {
  // Build the layout for the current state (charts may be created here).
  mount(root: HTMLElement, ctx: Ctx): void;
  // Fetch and draw; called after mount and on every auto-refresh.
  load(ctx: Ctx): Promise<void>;
}

export function panel(title: string | Node, tools: Node[] = [], cls = ''): { el: HTMLElement; body: HTMLElement; head: HTMLElement } {
  const body = h('div.panel-body');
  const heading = h('h2', null, title);
  // Every panel holding a table can export it (the button shows only then: style.css).
  const csv = h('button.csv', { type: 'button', title: 'Download this table as CSV', 'data-testid': 'csv', onclick: () => exportCSV(body, heading) }, 'CSV');
  const head = h('header', null, heading, h('span.tools', null, tools, csv));
  const el = h('section.panel', cls ? { class: cls } : null, head, body);
  return { el, body, head };
}

export function message(kind: 'empty' | 'error' | 'loading' | 'info', ...content: Array<Node | string>): HTMLElement {
  return h('div.msg', { class: 'msg-' + kind, role: kind === 'error' ? 'alert' : undefined }, content);
}

export function showIn(el: HTMLElement, ...nodes: Node[]): void {
  clear(el);
  nodes.forEach((n) => el.appendChild(n));
}

// Overlay on a chart container (keeps the chart's DOM, covers it).
export function overlay(container: HTMLElement, node: Node | null): void {
  container.querySelectorAll(':scope > .overlay').forEach((o) => o.remove());
  if (node) container.appendChild(h('div.overlay', null, node));
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function isAbort(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

export function filtersActive(ctx: Ctx): boolean {
  return ctx.state.filters.length > 0;
}

// The store is on and empty: time to tell the operator how to send sFlow here.
export function noFlowsYet(ctx: Ctx): boolean {
  return !!ctx.status && ctx.status.store_enabled !== false && flowRows(ctx.status) === 0;
}

// Stored flow rows over every resolution (flow_rows; flows_stored on older servers).
export function flowRows(st: Status | null): number {
  if (!st) return 0;
  return st.flow_rows ?? st.flows_stored ?? 0;
}

// "1-min", "5-min", "1-h" for a tier's step; step 0 is the aggregation interval.
export function tierName(step: number, interval?: number): string {
  const s = step || interval || 0;
  if (!s) return 'finest';
  if (s % 86400 === 0) return s / 86400 + '-d';
  if (s % 3600 === 0) return s / 3600 + '-h';
  if (s % 60 === 0) return s / 60 + '-min';
  return s + '-s';
}

// Notes the API attaches to answers ("notes": ["…"], e.g. a filter only the
// finest resolution can match): shown once above a view, however many panels
// got the same note.
export class Notes {
  readonly el: HTMLElement = h('div.notes', { 'data-testid': 'notes' });
  private seen = new Set<string>();
  reset(): void {
    this.seen.clear();
    clear(this.el);
  }
  add(notes: string[] | null | undefined): void {
    for (const n of notes || []) {
      if (!n || this.seen.has(n)) continue;
      this.seen.add(n);
      this.el.append(h('div.msg.msg-info.note', { role: 'note' }, n));
    }
  }
}

export function noDataText(ctx: Ctx, what = 'flows'): string {
  if (noFlowsYet(ctx)) return `No ${what} yet.`;
  return filtersActive(ctx) ? `No ${what} match the filters in this time range.` : `No ${what} in this time range.`;
}

// Nothing in the range, but the store has flows: say when they are and offer to show them.
export function emptyRange(ctx: Ctx, what = 'flows'): HTMLElement {
  const st = ctx.status;
  const m = message('empty', noDataText(ctx, what));
  if (!st || noFlowsYet(ctx) || !st.oldest || !st.newest) return m;
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  m.append(
    h('br'),
    `Stored flows span ${fmt.datetime(st.oldest)} to ${fmt.datetime(st.newest)} (${fmt.ago(st.newest)}). `,
    h(
      'button.link',
      { type: 'button', 'data-testid': 'show-stored', onclick: () => ctx.set({ from: iso(Date.parse(st.oldest!) - 60e3), to: iso(Date.parse(st.newest!) + 60e3) }) },
      'Show that range',
    ),
  );
  return m;
}

const DEFAULT_HOST = 'HOST';

// The command that points Open vSwitch at this collector. The server's hint
// wins; without one, build it from the sFlow listen address.
export function setupCommand(status: Status | null): string {
  if (status?.setup_hint) return status.setup_hint;
  let port = '6343';
  let host = location.hostname || DEFAULT_HOST;
  const l = status?.listen?.sflow?.[0];
  if (l) {
    const m = /^(.*):(\d+)$/.exec(l);
    if (m) {
      port = m[2];
      const a = m[1].replace(/^\[|\]$/g, '');
      if (a && a !== '0.0.0.0' && a !== '::' && a !== '127.0.0.1' && a !== '::1') host = a;
    }
  }
  if (host === 'localhost' || host === '127.0.0.1') host = DEFAULT_HOST;
  const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return (
    `ovs-vsctl -- --id=@sflow create sflow agent=eth0 target='"${target}"' \\\n` +
    `          header=128 sampling=64 polling=10 -- set bridge br-int sflow=@sflow`
  );
}

function placeholder(cmd: string): string {
  const m = /targets?=\W*"?\[?([^"\]]+?)\]?:\d+"/.exec(cmd);
  return m ? m[1] : 'HOST';
}

export function copyButton(text: () => string): HTMLElement {
  const b = h('button.copy', { type: 'button', title: 'Copy to the clipboard' }, 'Copy');
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
      b.textContent = 'Copied';
    } catch {
      const r = document.createRange();
      const pre = b.parentElement?.querySelector('pre');
      if (pre) {
        r.selectNodeContents(pre);
        const sel = getSelection();
        sel?.removeAllRanges();
        sel?.addRange(r);
        b.textContent = 'Selected: Ctrl+C';
      }
    }
    setTimeout(() => (b.textContent = 'Copy'), 2000);
  });
  return b;
}

export function setupCard(status: Status | null, headline = true): HTMLElement {
  const cmd = setupCommand(status);
  const listen = status?.listen?.sflow?.join(', ');
  return h(
    'section.setup',
    { 'data-testid': 'setup-hint' },
    headline ? h('h2', null, 'No flows yet: point Open vSwitch at this collector') : null,
    h('p', null, 'Run this on each hypervisor (as root), with the target address (', h('code', null, placeholder(cmd)), ') replaced by an address of this host that the hypervisors can reach, and ', h('code', null, 'agent'), ' set to the interface whose address the datagrams should come from:'),
    h('div.cmd', null, h('pre', null, cmd), copyButton(() => cmd)),
    h(
      'ul',
      null,
      h('li', null, 'Keep the quoting: Open vSwitch must receive the target as a quoted string, as in ', h('code', null, `target='"HOST:6343"'`), ' (the shell passes ', h('code', null, 'target="HOST:6343"'), ' on).'),
      h('li', null, 'Start flowlens ', h('b', null, 'before'), ' configuring sFlow: Open vSwitch sends from a connected UDP socket and drops datagrams while nothing listens.'),
      h('li', null, h('code', null, 'polling=10'), ' makes Open vSwitch export interface counters every 10 s (the Ports view).'),
      listen ? h('li', null, 'flowlens listens for sFlow on ', h('code', null, listen), '.') : null,
      h('li', null, 'To remove it again: ', h('code', null, 'ovs-vsctl clear bridge br-int sflow'), '.'),
    ),
  );
}

export interface Column<R> {
  label: string;
  cls?: string; // 'num' right-aligns
  title?: string;
  cell: (r: R, i: number) => Node | string;
  // The value in a CSV export (a number unformatted); the cell's text without it.
  csv?: (r: R) => string | number | null | undefined;
  // A fixed width ("84px"): a table with one lays out fixed, the other
  // columns sharing the rest and cutting their text (…) rather than
  // overflowing a narrow panel.
  width?: string;
  // In the CSV export only (what the table says by colour, e.g.).
  csvOnly?: boolean;
}

// What each table drew, for its CSV export.
const drawn = new WeakMap<HTMLTableElement, () => Array<Array<string | number>>>();

export function table<R>(
  columns: Column<R>[],
  rows: R[],
  opts: { onRow?: (r: R, ev: MouseEvent) => void; rowTitle?: string; foot?: Array<Array<Node | string>>; testid?: string } = {},
): HTMLTableElement {
  const all = columns;
  columns = columns.filter((c) => !c.csvOnly);
  const fixed = columns.some((c) => c.width);
  const t = h(
    'table.grid',
    { 'data-testid': opts.testid, class: fixed ? 'fixed' : undefined },
    h('thead', null, h('tr', null, columns.map((c) => h('th', { class: c.cls, title: c.title, style: c.width ? { width: c.width } : undefined }, c.label)))),
    h(
      'tbody',
      null,
      rows.map((r, i) =>
        h(
          'tr',
          {
            class: opts.onRow ? 'click' : undefined,
            title: opts.onRow ? opts.rowTitle : undefined,
            onclick: opts.onRow ? (ev: MouseEvent) => opts.onRow!(r, ev) : undefined,
          },
          columns.map((c) => {
            const v = c.cell(r, i);
            // Cut keys keep their whole text in the tooltip.
            return h('td', { class: c.cls, title: fixed && c.cls === 'key' && !(v instanceof HTMLElement && v.title) ? (typeof v === 'string' ? v : v.textContent) : undefined }, v);
          }),
        ),
      ),
    ),
    opts.foot && opts.foot.length
      ? h('tfoot', null, opts.foot.map((cells) => h('tr', null, cells.map((c, i) => h('td', { class: columns[i]?.cls }, c)))))
      : null,
  );
  drawn.set(t, () => {
    const text = (n: Node | string) => (typeof n === 'string' ? n : (n.textContent ?? '')).trim();
    const out: Array<Array<string | number>> = [all.map((c) => c.label)];
    rows.forEach((r, i) => out.push(all.map((c) => (c.csv ? (c.csv(r) ?? '') : text(c.cell(r, i))))));
    for (const cells of opts.foot || []) out.push(cells.map(text));
    return out;
  });
  return t;
}

// RFC 4180: fields with a comma, quote or line break quoted, quotes doubled,
// CRLF between records. Text starting with = + - @ (a formula to a
// spreadsheet: names come from tenants) gets a leading apostrophe.
export function csvText(rows: Array<Array<string | number>>): string {
  const field = (v: string | number) => {
    if (typeof v === 'number') return isFinite(v) ? String(v) : '';
    let s = v;
    if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return rows.map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}

// The text of a heading, a select counting as its chosen option.
function headingText(n: Node): string {
  if (n instanceof HTMLSelectElement) return n.selectedOptions[0]?.textContent ?? n.value;
  if (n instanceof HTMLButtonElement) return '';
  if (n.nodeType === Node.TEXT_NODE) return n.textContent ?? '';
  return [...n.childNodes].map(headingText).join('');
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'table';
}

// Set by main.ts: what names the file (view and range).
export const csvName = { prefix: () => 'flowlens' };

function exportCSV(body: HTMLElement, heading: HTMLElement): void {
  const tables = [...body.querySelectorAll<HTMLTableElement>('table.grid')].filter((t) => drawn.has(t));
  if (!tables.length) return;
  // Several tables (groups): one header, then every group's rows.
  const rows = tables.flatMap((t, i) => drawn.get(t)!().slice(i ? 1 : 0));
  const name = csvName.prefix() + '-' + slug(headingText(heading)) + '.csv';
  const url = URL.createObjectURL(new Blob([csvText(rows)], { type: 'text/csv;charset=utf-8' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// A number with a proportional bar behind it.
export function barCell(text: string, ratio: number, colour?: string): HTMLElement {
  const w = Math.max(0, Math.min(1, ratio || 0)) * 100;
  return h('span.bar', null, h('span', null, text), h('span.track', null, h('i', { style: { width: w.toFixed(1) + '%', background: colour } })));
}

export function swatch(colour: string): HTMLElement {
  return h('i.sw', { style: { background: colour } });
}

// A port the rolled-up resolutions fold (a client's port, 32768 or above).
export const EPHEMERAL = 'ephemeral';
export const EPHEMERAL_TEXT = 'ephemeral (≥ 32768)';
const PORT_DIMS = new Set(['src_port', 'dst_port']);

// OpenStack attribution on: an end without a VM (project, network,
// hypervisor) is an address outside the cloud, "external".
let openstack = false;
export function setOpenStack(on: boolean): void {
  openstack = on;
}
export const EXTERNAL = 'external';
const END_DIMS = /^(src|dst)_(vm|project|network|host)$/;

export function keyText(v: unknown, dim?: string): string {
  if (v === null || v === undefined || v === '') return openstack && dim && END_DIMS.test(dim) ? EXTERNAL : '(none)';
  if (v === EPHEMERAL && (!dim || PORT_DIMS.has(dim))) return EPHEMERAL_TEXT;
  return String(v);
}

// The title of a key's cell: what "external" and "(none)" mean.
export function keyTitle(v: unknown, dim?: string): string | undefined {
  if (v !== null && v !== undefined && v !== '') return undefined;
  if (keyText(v, dim) === EXTERNAL) return 'No ' + dim!.slice(4) + ' in the OpenStack inventory: an address outside the cloud (or a port the inventory does not know, e.g. a router\'s)';
  return 'records without a value';
}

// A value one can filter on (filter=dst_port=ephemeral selects the folded ports).
export function filterable(_dim: string, v: unknown): boolean {
  return v !== null && v !== undefined;
}

// The API value behind a displayed key.
export function keyValue(text: string): string {
  return text === EPHEMERAL_TEXT ? EPHEMERAL : text === '(none)' ? '' : text;
}
