// The header's search box: completes VMs, projects, networks, hypervisors,
// port names, IPs and MACs (GET /api/v1/search). A VM opens its page, a
// project its page, anything else becomes an either-side filter.
import { h, clear } from './dom';
import { get, isAbortError, type SearchResp, type SearchMatch } from './api';
import type { State, Filter } from './state';
import * as fmt from './format';

export const KIND_TEXT: Record<string, string> = {
  vm: 'VM',
  project: 'project',
  network: 'network',
  host: 'hypervisor',
  interface: 'port',
  ip: 'IP',
  mac: 'MAC',
};

export interface SearchCtx {
  state: State;
  set(patch: Partial<State>): void;
  addFilters(fs: Filter[]): void;
}

// The range searched: the view's when it is fixed or longer than a day,
// else the API's default (the last 24 h), so that a VM quiet in the last
// 15 minutes is still found.
function range(s: State): { from?: string; to?: string } {
  const m = /^-(\d+)([mhdw])$/.exec(s.from);
  if (s.to === 'now' && m) {
    const secs = +m[1] * { m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 'm' | 'h' | 'd' | 'w'];
    if (secs <= 86400) return {};
  }
  return { from: s.from, to: s.to };
}

export function choose(ctx: SearchCtx, m: SearchMatch): void {
  if (m.kind === 'vm') ctx.set({ view: 'vm', vm: m.value });
  else if (m.kind === 'project') ctx.set({ view: 'project', project: m.value });
  else ctx.addFilters([{ dim: m.kind, value: m.value, neg: false }]);
}

export function searchBox(ctx: SearchCtx): HTMLElement {
  const input = h('input', {
    type: 'search',
    placeholder: 'Find VM, IP…',
    title: 'Find a VM, project, network, hypervisor, port name, IP or MAC (any part of it, any case)',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-label': 'Search',
    'aria-autocomplete': 'list',
    'data-testid': 'search',
  });
  const list = h('ul.search-results', { role: 'listbox', 'data-testid': 'search-results', hidden: true });
  const box = h('div.search', null, input, list);
  let matches: SearchMatch[] = [];
  let active = -1;
  let timer = 0;
  let abort: AbortController | null = null;

  const close = () => {
    list.hidden = true;
    active = -1;
  };
  const highlight = () => {
    [...list.children].forEach((li, i) => li.classList.toggle('on', i === active));
  };
  const pick = (m: SearchMatch) => {
    close();
    input.value = '';
    choose(ctx, m);
  };
  const show = (r: SearchResp | null, err = '') => {
    clear(list);
    matches = r?.matches || [];
    active = matches.length ? 0 : -1;
    if (err) list.append(h('li.msg-error', { role: 'alert' }, err));
    else if (!matches.length)
      list.append(h('li.none', null, `Nothing matches “${input.value.trim()}”` + (r && !r.inventory ? ' in the flows of this range (no OpenStack inventory).' : '.')));
    matches.forEach((m, i) =>
      list.append(
        h(
          'li',
          {
            role: 'option',
            'data-kind': m.kind,
            'data-value': m.value,
            title: m.kind === 'vm' ? 'Open the page of this VM' : m.kind === 'project' ? 'Open the page of this project' : 'Filter on ' + m.filter + ' (either side)',
            onmousedown: (ev: MouseEvent) => ev.preventDefault(),
            onclick: () => pick(m),
            onmouseenter: () => {
              active = i;
              highlight();
            },
          },
          h('span.kind', null, KIND_TEXT[m.kind] ?? m.kind),
          h('span.label', null, m.label || m.value),
          h('span.bytes', null, m.stored ? fmt.bytes(m.bytes) : m.inventory ? 'no flows' : ''),
        ),
      ),
    );
    highlight();
    list.hidden = false;
  };
  const lookup = async () => {
    const q = input.value.trim();
    abort?.abort();
    if (!q) {
      close();
      return;
    }
    abort = new AbortController();
    try {
      const r = await get<SearchResp>('search', { q, limit: 12, ...range(ctx.state) }, abort.signal);
      if (input.value.trim() === q) show(r);
    } catch (e) {
      if (isAbortError(e)) return;
      show(null, (e as Error).message);
    }
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => void lookup(), 150);
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      if (!matches.length) return;
      ev.preventDefault();
      active = (active + (ev.key === 'ArrowDown' ? 1 : -1) + matches.length) % matches.length;
      highlight();
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      if (active >= 0 && matches[active] && !list.hidden) pick(matches[active]);
      else void lookup();
    } else if (ev.key === 'Escape') {
      close();
    }
  });
  input.addEventListener('blur', () => window.setTimeout(close, 150));
  input.addEventListener('focus', () => {
    if (input.value.trim() && list.childElementCount) list.hidden = false;
  });
  return box;
}
