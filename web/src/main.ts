import './style.css';
import { h, clear, select, segmented } from './dom';
import { get, apiURL, ApiError, type Status, type DimensionsResp } from './api';
import { parse, serialize, VIEWS, PAGES, DEFAULTS, formatFilter, isLive, rangeProblem, shiftRange, timeMs, iso, openStackDefaults, type State, type Filter, type View } from './state';
import { setDimensions, filterOptions, label as dimLabel } from './dims';
import { disposeAll } from './charts';
import { type Ctx, type ViewImpl, errorText, isAbort, flowRows, tierName, keyText, keyTitle, setOpenStack, csvName } from './ui';
import { viewsMenu, defaultView, check } from './saved';
import * as fmt from './format';
import { traffic } from './views/traffic';
import { talkers } from './views/talkers';
import { map } from './views/map';
import { ports } from './views/ports';
import { agents } from './views/agents';
import { blocked } from './views/blocked';
import { vmPage, projectPage } from './views/entity';
import { searchBox } from './search';
import { exprCompletion } from './exprcomplete';

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
// A range in the address that is not one (shown at the range control; the
// default range is used meanwhile), and what a saved view could not apply.
let rangeError = '';
// The filter expression's mistake (GET /api/v1/expr), said once at the
// filter bar; no view loads until it is fixed or cleared.
let exprError: { text: string; message: string; position: number } | null = null;
let exprChecked = '';
let viewMessage: { name: string; problems: string[] } | null = null;
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
  rangeError = '';
  viewMessage = null;
  state = { ...state, ...patch };
  const url = serialize(state) || location.pathname;
  if (url !== location.search) history.pushState(null, '', url);
  render();
}

window.addEventListener('popstate', () => {
  viewMessage = null;
  state = checkRange(parse(location.search));
  render();
});

function isPreset(): boolean {
  return state.to === 'now' && PRESETS.some(([v]) => v === state.from);
}

function rangeText(): string {
  const show = (s: string) => (/^-/.test(s) || s === 'now' ? s : fmt.datetime(timeMs(s)));
  return show(state.from) + ' → ' + show(state.to);
}

// The custom range: ISO 8601 date and time typed in the zone in use (not the
// browser's locale format); a mistake is said next to the field.
function customForm(): HTMLElement {
  const now = Date.now();
  const val = (s: string) => {
    const t = timeMs(s, now);
    return isNaN(t) ? s : fmt.inputText(t);
  };
  const field = (which: 'From' | 'To', value: string) =>
    h('input', { type: 'text', value, size: 19, spellcheck: 'false', autocomplete: 'off', placeholder: 'YYYY-MM-DD HH:MM', 'aria-label': which, 'data-testid': 'range-' + which.toLowerCase() });
  // A range in the address that is not one: its own text, to be corrected.
  const bad = rangeError ? parse(location.search) : null;
  const from = field('From', bad ? bad.from : val(state.from));
  const to = field('To', bad ? bad.to : val(state.to));
  const errFrom = h('span.err', { 'data-testid': 'range-from-error' });
  const errTo = h('span.err', { 'data-testid': 'range-to-error' });
  const err = h('div.err', { 'data-testid': 'range-error', role: 'alert' }, rangeError);
  const mark = (input: HTMLInputElement, e: HTMLElement, msg: string) => {
    e.textContent = msg;
    if (msg) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  if (bad) {
    const pf = rangeProblem({ from: bad.from, to: 'now' });
    if (pf) mark(from, errFrom, 'not a time');
    else if (isNaN(timeMs(bad.to))) mark(to, errTo, 'not a time');
    else mark(to, errTo, 'not after From');
  }
  const form = h(
    'form.custom',
    {
      'data-testid': 'custom-range',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const f = fmt.parseInput(from.value);
        const t = fmt.parseInput(to.value);
        mark(from, errFrom, typeof f === 'string' ? f : '');
        mark(to, errTo, typeof t === 'string' ? t : '');
        err.textContent = '';
        if (typeof f === 'string' || typeof t === 'string') {
          (typeof f === 'string' ? from : to).focus();
          return;
        }
        if (f >= t) {
          mark(to, errTo, f === t ? 'the same time as From' : 'before From');
          err.textContent = `From (${fmt.datetime(f, true)}) must be before To (${fmt.datetime(t, true)}): the range is ${f === t ? 'empty' : 'inverted'}.`;
          to.focus();
          return;
        }
        set({ from: iso(f), to: iso(t) });
      },
    },
    h('div.fields', null,
      h('label', null, h('span', null, 'From'), from, errFrom),
      h('label', null, h('span', null, 'To'), to, errTo),
      h('button', { type: 'submit' }, 'Apply'),
    ),
    err,
    h('div.hint', null, 'ISO 8601, 24 h: ', h('code', null, '2026-11-20 08:00'), ' or ', h('code', null, '2026-11-20T08:00:30'), ', in ', h('b', { 'data-testid': 'range-zone' }, fmt.tz() === 'utc' ? 'UTC' : 'local time (' + fmt.localZoneText() + ')'), ' unless it ends in ', h('code', null, 'Z'), ' or ', h('code', null, '+01:00'), '.'),
  );
  return form;
}

function lengthText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s % 86400 === 0) return s / 86400 + ' d';
  if (s % 3600 === 0) return s / 3600 + ' h';
  if (s % 60 === 0) return s / 60 + ' min';
  return s + ' s';
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
  custom.hidden = !rangeError;
  const now = Date.now();
  const len = timeMs(state.to, now) - timeMs(state.from, now);
  const back = shiftRange(state, -1, now);
  const fwd = shiftRange(state, 1, now);
  const presets = h(
    'span.seg.range',
    { 'data-testid': 'range' },
    PRESETS.map(([v, text]) =>
      h('button', { type: 'button', class: isPreset() && state.from === v ? 'on' : undefined, 'data-value': v, onclick: () => set({ from: v, to: 'now' }) }, text),
    ),
    h('button', { type: 'button', class: isPreset() ? undefined : 'on', 'data-value': 'custom', title: rangeText() + ' (' + fmt.zoneText() + ')', 'aria-expanded': String(!custom.hidden), onclick: () => (custom.hidden = !custom.hidden) }, isPreset() ? 'Custom' : rangeText()),
  );
  const step = (dir: -1 | 1, to: { from: string; to: string } | null) =>
    h(
      'button.step',
      {
        type: 'button',
        'data-testid': dir < 0 ? 'step-back' : 'step-forward',
        disabled: !to,
        'aria-label': dir < 0 ? 'Earlier' : 'Later',
        title: to
          ? (dir < 0 ? 'Back' : 'Forward') + ' by the range\'s length (' + lengthText(len) + '): ' + fmt.datetime(timeMs(to.from, now)) + ' → ' + (to.to === 'now' ? 'now' : fmt.datetime(timeMs(to.to, now)))
          : 'The range ends now: nothing later yet',
        onclick: () => to && set(to),
      },
      dir < 0 ? '◀' : '▶',
    );
  const zone = h(
    'label.tz',
    { title: 'Time zone of every time shown and typed (axes, tables, the custom range); kept in this browser' },
    select(fmt.tz(), [['local', 'Local (' + fmt.localZoneText() + ')'], ['utc', 'UTC']], (v) => {
      fmt.setTZ(v as fmt.TZ);
      render();
    }, { 'aria-label': 'Time zone', 'data-testid': 'tz' }),
  );
  const refresh = h(
    'label.refresh',
    { title: isLive(state) ? 'Auto-refresh: ranges ending now are reloaded at this interval' : 'Auto-refresh applies to ranges ending now only' },
    '⟳ ',
    select(String(state.refresh), REFRESH, (v) => set({ refresh: +v }), { 'aria-label': 'Auto-refresh', 'data-testid': 'refresh', disabled: !isLive(state) }),
  );
  const reload = h('button.reload', { type: 'button', title: 'Reload now', onclick: () => void refreshData() }, 'Reload');
  const views = viewsMenu({
    state,
    message: viewMessage,
    apply: (s, name, problems) => {
      set({ ...s });
      if (problems.length) {
        viewMessage = { name, problems };
        renderHeader();
      }
    },
  });
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
  header.append(
    h('a.brand', { href: './', title: 'flowlens' }, 'flowlens'),
    tabs,
    searchBox({ state, set, addFilters }),
    h('span.spacer'),
    h('span.controls', null, ...(count ? [count] : []), h('span.when', null, step(-1, back), presets, step(1, fwd)), zone, refresh, reload, views),
    custom,
  );
}

function renderFilterbar(): void {
  clear(filterbar);
  const chips = state.filters.map((f, i) =>
    h(
      'span.chip',
      { class: f.neg ? 'neg' : undefined, 'data-filter': formatFilter(f) },
      h('span.dim', { title: f.dim }, dimLabel(f.dim)),
      h('button.op', { type: 'button', title: 'Toggle include / exclude', onclick: () => set({ filters: state.filters.map((x, j) => (j === i ? { ...x, neg: !x.neg } : x)) }) }, f.neg ? '≠' : '='),
      h('span.val', { title: keyTitle(f.value, f.dim) }, keyText(f.value, f.dim)),
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
  const exprIn = h('input', {
    type: 'text',
    value: exprError ? exprError.text : state.expr,
    placeholder: 'expression: vm = web-1 and (dst_port = 80-443 or not src_ip = 10.0.0.0/8)',
    size: 44,
    spellcheck: false,
    autocomplete: 'off',
    'aria-autocomplete': 'list',
    'aria-label': 'Filter expression',
    'data-testid': 'expr',
  });
  // Completion of dimension names where a comparison starts, and of a
  // dimension's values in the current range after "=" or "!=".
  const suggest = h('ul.expr-suggest', { 'data-testid': 'expr-suggest', role: 'listbox', hidden: true });
  exprCompletion(exprIn, suggest, () => ({ from: state.from, to: state.to }));
  const exprForm = h(
    'form.expr',
    {
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const text = exprIn.value.trim();
        if (!text) {
          exprError = null;
          set({ expr: '' });
          return;
        }
        if (await checkExpr(text)) set({ expr: text });
        else renderFilterbar();
      },
    },
    h('span.expr-in', null, exprIn, suggest),
    h('button', { type: 'submit', title: 'and, or, not, ( ); = != < <= > >=; CIDR prefixes, port ranges LO-HI; names in any case (docs/api.md)' }, 'Apply'),
    state.expr || exprError ? h('button.x', { type: 'button', title: 'Clear the expression', 'aria-label': 'Clear the expression', onclick: () => ((exprError = null), set({ expr: '' })) }, '×') : null,
  );
  const exprMsg = exprError
    ? h(
        'div.expr-error',
        { role: 'alert', 'data-testid': 'expr-error' },
        h('b', null, 'Filter expression: '),
        exprError.message + ' ',
        h('code', null, exprError.text.slice(0, exprError.position), h('mark', null, exprError.text.slice(exprError.position, exprError.position + 1) || ' '), exprError.text.slice(exprError.position + 1)),
      )
    : null;
  // Port counters and exporters are not flows: filters do not apply there,
  // and the bar says so rather than seem to.
  const ignored = (state.view === 'ports' || state.view === 'agents') && (state.filters.length > 0 || !!state.expr);
  filterbar.classList.toggle('ignored', ignored);
  filterbar.append(
    ...(ignored
      ? [h('span.ignored-note', { 'data-testid': 'filters-ignored', role: 'note' }, 'Not applied in this view (port counters and exporters are not flows):')]
      : []),
    exprForm,
    ...(exprMsg ? [exprMsg] : []),
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

// checkExpr asks the API whether text is a valid expression, and keeps
// its mistake for the filter bar.
async function checkExpr(text: string, signal?: AbortSignal): Promise<boolean> {
  const r = await fetch(apiURL('expr', { expr: text }), { signal, headers: { Accept: 'application/json' } });
  if (r.ok) {
    exprError = null;
    exprChecked = text;
    return true;
  }
  let body: { error?: string; message?: string; position?: number } = {};
  try {
    body = await r.json();
  } catch {
    /* not JSON */
  }
  exprError = { text, message: body.message || body.error || `${r.status} ${r.statusText}`, position: body.position ?? text.length };
  return false;
}

async function refreshData(): Promise<void> {
  const signal = abort.signal;
  busy(1);
  try {
    await loadStatus(signal);
    if (state.expr && state.expr !== exprChecked && !(await checkExpr(state.expr, signal))) {
      // One message, at the bar, instead of every panel's 400.
      renderFilterbar();
      clear(main);
      main.append(h('div.msg.msg-empty', { 'data-testid': 'expr-blocked' }, 'Nothing is shown until the filter expression above is fixed or cleared.'));
      return;
    }
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

// The CSV files are named after the view and the range (UTC).
csvName.prefix = () => {
  const now = Date.now();
  const t = (x: string) => iso(timeMs(x, now)).replace(/[-:]/g, '').replace(/00Z$/, 'Z');
  const what = state.view === 'vm' ? 'vm-' + state.vm : state.view === 'project' ? 'project-' + state.project : state.view;
  return ('flowlens-' + what + '-' + t(state.from) + '-' + t(state.to)).replace(/[^A-Za-z0-9._-]+/g, '_');
};

// The state of the address, or of the default saved view when there is no
// query; a range that is not one is said at the range control.
function initialState(): State {
  let s = parse(location.search);
  const d = location.search.replace(/^\?/, '') === '' ? defaultView() : undefined;
  if (d) {
    const c = check(d.query);
    s = c.state;
    if (c.problems.length) viewMessage = { name: d.name, problems: c.problems };
    const url = serialize(s);
    if (url) history.replaceState(null, '', url);
  }
  return checkRange(s);
}

function checkRange(s: State): State {
  const problem = rangeProblem(s);
  rangeError = problem ? problem + ' Showing the default range (' + DEFAULTS.from + ') meanwhile.' : '';
  return problem ? { ...s, from: DEFAULTS.from, to: DEFAULTS.to } : s;
}

async function start(): Promise<void> {
  // The dimensions, and whether OpenStack attribution is on (the defaults depend on it).
  const [d, st] = await Promise.all([get<DimensionsResp>('dimensions').catch(() => null), get<Status>('status').catch(() => null)]);
  if (d) setDimensions(d.dimensions, d.either_side);
  const ports = Number(st?.enrichment?.openstack?.ports ?? 0);
  setOpenStack(ports > 0);
  openStackDefaults(ports > 0);
  state = initialState();
  render();
}

void start();
