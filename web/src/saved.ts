// Saved views: a name for the URL query of a view (all the state is in it),
// kept in the browser's localStorage (flowlens.views). One of them can be the
// default: applied when the console opens without a query.
import { h, clear } from './dom';
import { parse, serialize, parseFilter, LEVELS, type State } from './state';
import { known, dimensionsKnown } from './dims';

export interface SavedView {
  name: string;
  query: string; // "?view=…&from=…", as serialize() writes it ('' = the defaults)
  default?: boolean;
}

const KEY = 'flowlens.views';

export function list(): SavedView[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) || '[]');
    if (!Array.isArray(v)) return [];
    return v.filter((x) => x && typeof x.name === 'string' && typeof x.query === 'string');
  } catch {
    return [];
  }
}

function store(views: SavedView[]): string {
  try {
    localStorage.setItem(KEY, JSON.stringify(views));
    return '';
  } catch (e) {
    return 'cannot save in this browser: ' + (e instanceof Error ? e.message : String(e));
  }
}

export function defaultView(): SavedView | undefined {
  return list().find((v) => v.default);
}

// A saved view's state, without what this flowlens no longer knows (a
// dimension renamed or removed since it was saved): the rest applies, and
// the problems say what was left out.
export function check(query: string): { state: State; problems: string[] } {
  const q = new URLSearchParams(query);
  const state = parse(query);
  const problems: string[] = [];
  if (!dimensionsKnown()) return { state, problems };
  const gone = (d: string) => !known(d);
  const by = q.get('by');
  if (by && gone(by)) {
    state.by = parse('').by;
    problems.push(`stacked by "${by}", a dimension this flowlens does not have: stacked by ${state.by ? '"' + state.by + '" (the default)' : 'nothing'} instead`);
  }
  const tables = q.getAll('table');
  const keep = state.tables.filter((t) => !t.split(',').some(gone));
  for (const t of tables) if (t.split(',').some(gone)) problems.push(`the table by "${t}": no such dimension here, left out`);
  if (tables.length && keep.length !== state.tables.length) state.tables = keep.length ? keep : parse('').tables;
  for (const f of q.getAll('filter')) {
    const p = parseFilter(f);
    if (p && gone(p.dim)) problems.push(`the filter "${f}": no dimension "${p.dim}" here, left out`);
  }
  state.filters = state.filters.filter((f) => !gone(f.dim));
  const level = q.get('level');
  if (level && !LEVELS.some(([l]) => l === level)) {
    state.level = parse('').level;
    problems.push(`the "${level}" level of Who talks to whom: no such level here, the ${state.level} level instead`);
  }
  return { state, problems };
}

// The Views menu of the header: save the current view under a name, apply,
// delete, choose the default.
export function viewsMenu(opts: {
  state: State;
  apply: (s: State, name: string, problems: string[]) => void;
  message?: { name: string; problems: string[] } | null;
}): HTMLElement {
  const wrap = h('span.views');
  const menu = h('div.views-menu', { 'data-testid': 'views-menu', hidden: true });
  const button = h(
    'button',
    { type: 'button', 'data-testid': 'views', title: 'Saved views: save this view under a name, apply one, choose the default', 'aria-expanded': 'false', onclick: () => toggle() },
    'Views ▾',
  );
  const toggle = (open = menu.hidden) => {
    menu.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) draw();
  };
  let note: HTMLElement | null = null;
  const draw = () => {
    clear(menu);
    const views = list();
    const name = h('input', { type: 'text', placeholder: 'name of this view', size: 22, maxlength: 80, 'aria-label': 'View name', 'data-testid': 'view-name' });
    const err = h('div.err', { 'data-testid': 'views-error', role: 'alert' });
    const form = h(
      'form.save',
      {
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const n = name.value.trim();
          if (!n) {
            err.textContent = 'Give the view a name.';
            name.focus();
            return;
          }
          const rest = list().filter((v) => v.name !== n);
          const was = list().find((v) => v.name === n);
          const e = store([...rest, { name: n, query: serialize({ ...opts.state, refresh: opts.state.refresh }), default: was?.default }].sort((a, b) => a.name.localeCompare(b.name)));
          if (e) {
            err.textContent = e;
            return;
          }
          note = h('div.ok', null, was ? `"${n}" replaced.` : `"${n}" saved.`);
          draw();
        },
      },
      name,
      h('button', { type: 'submit' }, 'Save current view'),
    );
    const rows = views.map((v) =>
      h(
        'li',
        { 'data-view-name': v.name, class: v.default ? 'default' : undefined },
        h('button.link.apply', { type: 'button', title: 'Apply: ' + (v.query || '(the defaults)'), onclick: () => applyView(v) }, v.name),
        h(
          'button.star',
          {
            type: 'button',
            class: v.default ? 'on' : undefined,
            title: v.default ? 'The default view (applied when the console opens without a query): click to unset' : 'Make this the default view (applied when the console opens without a query)',
            'aria-label': (v.default ? 'Unset default ' : 'Set default ') + v.name,
            'aria-pressed': String(!!v.default),
            onclick: () => {
              const e = store(list().map((x) => ({ ...x, default: x.name === v.name ? !v.default : false })));
              if (e) err.textContent = e;
              else draw();
            },
          },
          v.default ? '★ default' : '☆',
        ),
        h(
          'button.x',
          {
            type: 'button',
            title: 'Delete this saved view',
            'aria-label': 'Delete ' + v.name,
            onclick: () => {
              const e = store(list().filter((x) => x.name !== v.name));
              if (e) err.textContent = e;
              else draw();
            },
          },
          '×',
        ),
      ),
    );
    const m = opts.message;
    const parts: Array<Node | null> = [
      h('h3', null, 'Saved views'),
      m && m.problems.length
        ? h(
            'div.msg.msg-error.problems',
            { role: 'alert', 'data-testid': 'view-problems' },
            `Saved view "${m.name}" refers to what this flowlens does not have; the rest of it was applied:`,
            h('ul', null, m.problems.map((p) => h('li', null, p))),
            'Save it again to keep it without them.',
          )
        : null,
      views.length
        ? h('ul.list', { 'data-testid': 'views-list' }, rows)
        : h('p.none', null, 'None yet. A view is everything in the address: the tab, range, filters, stacking, tables…'),
      form,
      err,
      note,
      h('p.hint', null, 'Kept in this browser (localStorage). The default view applies when the console opens without a query.'),
    ];
    menu.append(...parts.filter((x): x is Node => !!x));
    note = null;
  };
  const applyView = (v: SavedView) => {
    const { state, problems } = check(v.query);
    toggle(false);
    opts.apply(state, v.name, problems);
  };
  menu.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') toggle(false);
  });
  wrap.append(button, menu);
  if (opts.message && opts.message.problems.length) queueMicrotask(() => toggle(true));
  return wrap;
}
