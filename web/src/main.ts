import './style.css';
import { h, clear, select, segmented } from './dom';
import { get, ApiError, type Status, type DimensionsResp } from './api';
import { parse, serialize, VIEWS, PAGES, formatFilter, isLive, type State, type Filter, type View } from './state';
import { setDimensions, filterOptions, label as dimLabel } from './dims';
import { disposeAll } from './charts';
import { type Ctx, type ViewImpl, errorText, isAbort, flowRows, tierName, keyText } from './ui';
import * as fmt from './format';
import { traffic } from './views/traffic';
import { talkers } from './views/talkers';
import { map } from './views/map';
import { ports } from './views/ports';
import { agents } from './views/agents';
import { blocked } from './views/blocked';
import { vmPage, projectPage } from './views/entity';
import { searchBox } from './search';

const IMPLS: Record<View, ViewImpl> = { traffic, talkers, map, ports, blocked, agents, vm: vmPage, project: projectPage };

const PRESETS: Array<[string, string]> = [
  ['-15m', '15m'],
  ['-1h', '1h'],
  ['-6h', '6h'],
  ['-24h', '24h'],
  ['-7d', '7d'],
];
const REFRESH: Array<[string, string]> = [
  ['0', 'off'],
  ['5', '5s'],
  ['10', '10s'],
  ['30', '30s'],
  ['60', '1m'],
];

let state: State = parse(location.search);
let status: Status | null = null;
let statusError = '';
let statusCode = 0;
let abort = new AbortController();
let loading = 0;
let loads = 0;
let timer = 0;

const root = document.getElementById('app')!;
const header = h('header.top');
const filterbar = h('div.filterbar');
const banner = h('div.banner');
const main = h('main');
root.append(header, filterbar, banner, main);

function ctx(): Ctx {
  return {
    state,
    status,
    signal: abort.signal,
    set,
    addFilter: (dim, value, neg = false) => addFilters([{ dim, value, neg }]),
    addFilters,
  };
}

function addFilters(fs: Filter[]): void {
  const next = [...state.filters];
  for (const f of fs) {
    if (f.value === null || f.value === undefined) continue;
    // A new condition on the same dimension replaces an opposite one.
    const i = next.findIndex((x) => x.dim === f.dim && x.value === f.value);
    if (i >= 0) next.splice(i, 1);
    next.push(f);
  }
  set({ filters: next });
}

function set(patch: Partial<State>): void {
  state = { ...state, ...patch };
  const url = serialize(state) || location.pathname;
  if (url !== location.search) history.pushState(null, '', url);
  render();
}

window.addEventListener('popstate', () => {
  state = parse(location.search);
  render();
});

function isPreset(): boolean {
  return state.to === 'now' && PRESETS.some(([v]) => v === state.from);
}

function rangeText(): string {
  const show = (s: string) => (/^-/.test(s) || s === 'now' ? s : fmt.datetime(/^\d+$/.test(s) ? +s * 1000 : s));
  return show(state.from) + ' → ' + show(state.to);
}

function toLocalInput(s: string): string {
  let t: number;
  if (s === 'now') t = Date.now();
  else if (/^\d+$/.test(s)) t = +s * 1000;
  else if (/^-\d+[smhd]$/.test(s)) {
    const n = +s.slice(1, -1);
    const mult = { s: 1, m: 60, h: 3600, d: 86400 }[s.slice(-1) as 's' | 'm' | 'h' | 'd'];
    t = Date.now() - n * mult * 1000;
  } else t = Date.parse(s);
  if (isNaN(t)) t = Date.now();
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function customForm(): HTMLElement {
  const from = h('input', { type: 'datetime-local', value: toLocalInput(state.from), 'aria-label': 'From' });
  const to = h('input', { type: 'datetime-local', value: toLocalInput(state.to), 'aria-label': 'To' });
  const form = h(
    'form.custom',
    {
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const f = new Date(from.value);
        const t = new Date(to.value);
        if (isNaN(f.getTime()) || isNaN(t.getTime()) || f >= t) {
          form.querySelector('.err')!.textContent = 'From must be before To.';
          return;
        }
        set({ from: f.toISOString().replace(/\.\d+Z$/, 'Z'), to: t.toISOString().replace(/\.\d+Z$/, 'Z') });
      },
    },
    h('label', null, 'From ', from),
    h('label', null, 'To ', to),
    h('button', { type: 'submit' }, 'Apply'),
    h('span.err'),
  );
  return form;
}

function renderHeader(): void {
  clear(header);
  // The VM or project page open is a tab of its own.
  const page = PAGES.find(([id]) => id === state.view);
  const subject = state.view === 'vm' ? state.vm : state.view === 'project' ? state.project : '';
  const tabs = h(
    'nav',
    null,
    [...VIEWS, ...(page ? [[page[0], page[1] + ' ' + subject] as [View, string]] : [])].map(([id, text]) =>
      h('a', { href: serialize({ ...state, view: id }) || '?', class: id === state.view ? 'on' : undefined, 'data-view': id, onclick: (ev: MouseEvent) => {
        if (ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
        ev.preventDefault();
        set({ view: id });
      } }, text),
    ),
  );
  const custom = customForm();
  custom.hidden = true;
  const presets = h(
    'span.seg.range',
    { 'data-testid': 'range' },
    PRESETS.map(([v, text]) =>
      h('button', { type: 'button', class: isPreset() && state.from === v ? 'on' : undefined, 'data-value': v, onclick: () => set({ from: v, to: 'now' }) }, text),
    ),
    h('button', { type: 'button', class: isPreset() ? undefined : 'on', 'data-value': 'custom', title: rangeText(), onclick: () => (custom.hidden = !custom.hidden) }, isPreset() ? 'Custom' : rangeText()),
  );
  const refresh = h(
    'label.refresh',
    { title: isLive(state) ? 'Auto-refresh: ranges ending now are reloaded at this interval' : 'Auto-refresh applies to ranges ending now only' },
    '⟳ ',
    select(String(state.refresh), REFRESH, (v) => set({ refresh: +v }), { 'aria-label': 'Auto-refresh', 'data-testid': 'refresh', disabled: !isLive(state) }),
  );
  const reload = h('button.reload', { type: 'button', title: 'Reload now', onclick: () => void refreshData() }, 'Reload');
  const flowView = ['traffic', 'talkers', 'map', 'vm', 'project'].includes(state.view);
  const count = flowView
    ? h(
        'label.count',
        {
          title:
            'Open vSwitch samples a packet on every bridge it crosses (the sending VM\'s br-int, the receiving host\'s br-int after the tunnel, br-ex…). ' +
            '"each packet once" counts it only where it entered the cloud (from a VM port or from outside); "every observation" adds the repeats.',
        },
        'Count: ',
        segmented(
          state.observations,
          [
            ['first', 'each packet once'],
            ['all', 'every observation'],
          ],
          (v) => set({ observations: v as 'first' | 'all' }),
          { 'data-testid': 'observations', 'aria-label': 'Count' },
        ),
      )
    : null;
  header.append(h('a.brand', { href: './', title: 'flowlens' }, 'flowlens'), tabs, searchBox({ state, set, addFilters }), h('span.spacer'), ...(count ? [count] : []), presets, refresh, reload, custom);
}

function renderFilterbar(): void {
  clear(filterbar);
  const chips = state.filters.map((f, i) =>
    h(
      'span.chip',
      { class: f.neg ? 'neg' : undefined, 'data-filter': formatFilter(f) },
      h('span.dim', { title: f.dim }, dimLabel(f.dim)),
      h('button.op', { type: 'button', title: 'Toggle include / exclude', onclick: () => set({ filters: state.filters.map((x, j) => (j === i ? { ...x, neg: !x.neg } : x)) }) }, f.neg ? '≠' : '='),
      h('span.val', { title: f.value === '' ? 'records without a value' : undefined }, f.value === '' ? '(none)' : keyText(f.value, f.dim)),
      h('button.x', { type: 'button', title: 'Remove this filter', 'aria-label': 'Remove filter ' + formatFilter(f), onclick: () => set({ filters: state.filters.filter((_, j) => j !== i) }) }, '×'),
    ),
  );
  const dim = select('src_ip', filterOptions(), () => undefined, { 'aria-label': 'Filter dimension' });
  const op = select('=', [['=', '='], ['!=', '≠']], () => undefined, { 'aria-label': 'Filter operator' });
  const val = h('input', { type: 'text', placeholder: 'value', size: 14, 'aria-label': 'Filter value' });
  const add = h(
    'form.addfilter',
    {
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const v = val.value.trim();
        if (v) addFilters([{ dim: dim.value, value: v, neg: op.value === '!=' }]);
      },
    },
    dim,
    op,
    val,
    h('button', { type: 'submit' }, 'Add'),
  );
  filterbar.append(
    h('span.lbl', null, 'Filters'),
    ...(chips.length ? chips : [h('span.hint', { title: 'Click a table row, a legend entry, a node or a map point to filter on it; shift-click excludes it' }, 'none: click a row to filter (shift-click excludes)')]),
    ...(chips.length > 1 ? [h('button.clear', { type: 'button', onclick: () => set({ filters: [] }) }, 'Clear all')] : []),
    h('span.spacer'),
    add,
    h('span.status', { 'data-testid': 'status', title: statusTitle() }, statusText()),
  );
}

function statusText(): string {
  if (statusError) return 'API: ' + statusError;
  if (!status) return '';
  const tiers = (status.tiers || []).map((t) => tierName(t.step, status!.interval));
  const parts = [fmt.int(flowRows(status)) + ' stored rows' + (tiers.length ? ' (' + tiers.join(', ') + ')' : '')];
  if (status.newest) parts.push('newest ' + fmt.ago(status.newest));
  if (status.version) parts.push(status.version);
  return parts.join(' · ');
}

// What the count adds: rows of every resolution (one flow is a row in each).
function statusTitle(): string {
  if (!status) return '';
  const t = (status.tiers || []).map((x) => `${tierName(x.step, status!.interval)}: ${fmt.int(x.rows)} rows`);
  return 'Aggregated flow rows in the store, over every resolution (a flow has a row in each)' + (t.length ? ': ' + t.join(', ') : '');
}

function renderBanner(): void {
  clear(banner);
  if (statusCode === 401) banner.append(tokenForm());
  else if (statusError) banner.append(h('div.msg.msg-error', { role: 'alert' }, 'Cannot load the collector status: ' + statusError));
  else if (status && status.store_enabled === false)
    banner.append(h('div.msg.msg-error', { role: 'alert' }, 'The flow store is disabled (store.enabled: false): flowlens keeps no flows, so these views stay empty. Enable it in the configuration and restart flowlens.'));
}

// console.auth.mode token: the API also takes the token from the
// flowlens_token cookie (basic authentication is the browser's own prompt).
function tokenForm(): HTMLElement {
  const input = h('input', { type: 'password', placeholder: 'token', size: 32, autocomplete: 'current-password', 'aria-label': 'Token' });
  return h(
    'form.msg.msg-error.auth',
    {
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const secure = location.protocol === 'https:' ? '; Secure' : '';
        document.cookie = `flowlens_token=${input.value.trim().replace(/[;,\s]/g, '')}; Path=/; SameSite=Strict${secure}`;
        location.reload();
      },
    },
    'Authentication required: ' + statusError.replace(/^authentication required:\s*/, '') + ' ',
    input,
    ' ',
    h('button', { type: 'submit' }, 'Sign in'),
  );
}

async function loadStatus(signal: AbortSignal): Promise<void> {
  try {
    status = await get<Status>('status', {}, signal);
    statusError = '';
    statusCode = 200;
  } catch (e) {
    if (isAbort(e)) throw e;
    statusError = errorText(e);
    statusCode = e instanceof ApiError ? e.status : 0;
  }
  const s = filterbar.querySelector<HTMLElement>('.status');
  if (s) {
    s.textContent = statusText();
    s.title = statusTitle();
  }
  renderBanner();
}

function busy(delta: number): void {
  loading += delta;
  document.documentElement.dataset.busy = loading > 0 ? '1' : '0';
  if (delta < 0) document.documentElement.dataset.loads = String(++loads);
}

async function refreshData(): Promise<void> {
  const signal = abort.signal;
  busy(1);
  try {
    await loadStatus(signal);
    await IMPLS[state.view].load(ctx());
  } catch (e) {
    if (!isAbort(e)) console.error(e);
  } finally {
    busy(-1);
  }
}

function render(): void {
  abort.abort();
  abort = new AbortController();
  document.title =
    'flowlens · ' +
    (state.view === 'vm' ? 'VM ' + state.vm : state.view === 'project' ? 'Project ' + state.project : (VIEWS.find(([v]) => v === state.view)?.[1] ?? ''));
  renderHeader();
  renderFilterbar();
  disposeAll();
  clear(main);
  main.className = 'view-' + state.view;
  IMPLS[state.view].mount(main, ctx());
  void refreshData();
  clearInterval(timer);
  if (state.refresh > 0 && isLive(state)) {
    timer = window.setInterval(() => {
      if (!document.hidden && loading === 0) void refreshData();
    }, state.refresh * 1000);
  }
}

async function start(): Promise<void> {
  try {
    const d = await get<DimensionsResp>('dimensions');
    setDimensions(d.dimensions, d.either_side);
  } catch {
    /* built-in list */
  }
  render();
}

void start();
