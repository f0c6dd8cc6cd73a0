// Completion in the filter expression field (docs/api.md, "Filter
// expressions"): dimension names where a comparison starts, and after
// `DIM =` or `DIM !=` the values of that dimension in the current range
// (GET /api/v1/values), matching what is typed so far in any case.
import { h, clear } from './dom';
import { get, isAbortError } from './api';
import { filterOptions, known } from './dims';
import * as fmt from './format';

export interface ValuesResp {
  dim: string;
  q: string;
  values: Array<{ value: string; bytes: number }> | null;
}

// Where the caret is, for completion: the start of a comparison (a
// dimension name being typed), or a comparison's value being typed.
export type ExprContext =
  | { kind: 'dim'; start: number; end: number; typed: string }
  // start..end is replaced by the value chosen: what is typed so far, with
  // its opening quote if any, and the rest of that word after the caret.
  | { kind: 'value'; dim: string; start: number; end: number; typed: string; quote: string }
  | null;

// Characters that end a word in the expression language (store/expr.go's
// lexer): a value holding any of them must be quoted.
const WORD = /^[^\s()=!<>"']+$/;
const WORD_CHARS = /^[^\s()=!<>"']*/;

export function exprContext(text: string, caret: number): ExprContext {
  const before = text.slice(0, caret);
  const v = /(?:^|[\s(])([A-Za-z_]+)\s*(!=|=)\s*("[^"]*|'[^']*|[^\s()=!<>"']*)$/.exec(before);
  if (v) {
    const dim = v[1].toLowerCase();
    if (!known(dim)) return null;
    const raw = v[3];
    const quote = raw[0] === '"' || raw[0] === "'" ? raw[0] : '';
    const start = caret - raw.length;
    let end = caret;
    if (quote) {
      const close = text.indexOf(quote, caret);
      if (close >= 0) end = close + 1;
    } else end = caret + WORD_CHARS.exec(text.slice(caret))![0].length;
    return { kind: 'value', dim, start, end, typed: quote ? raw.slice(1) : raw, quote };
  }
  const m = /(^|[\s(])([A-Za-z_]*)$/.exec(before);
  if (!m || !m[2]) return null;
  const head = before.slice(0, before.length - m[2].length);
  const prev = head.trim().split(/[\s(]+/).pop() || '';
  const atStart = !prev || /^(and|or|not)$/i.test(prev) || head.trimEnd().endsWith('(');
  if (!atStart) return null;
  const end = caret + (/^[A-Za-z_]*/.exec(text.slice(caret))![0].length);
  return { kind: 'dim', start: caret - m[2].length, end, typed: m[2] };
}

// How a value is written in an expression: as it is when it is one word,
// else in double quotes, or single quotes when it holds a double one; null
// when it holds both (the language cannot write it).
export function quoteValue(v: string): string | null {
  if (WORD.test(v)) return v;
  if (!v.includes('"')) return '"' + v + '"';
  if (!v.includes("'")) return "'" + v + "'";
  return null;
}

interface Item {
  insert: string;
  // what follows the insertion: " = " after a name, " " after a value
  after: string;
  el: HTMLLIElement;
}

// Wires completion to an expression input and its (initially hidden)
// suggestion list. range gives the time range the values are read in.
export function exprCompletion(input: HTMLInputElement, list: HTMLElement, range: () => { from: string; to: string }): void {
  let items: Item[] = [];
  let active = -1;
  let ctx: ExprContext = null;
  let timer = 0;
  // Every change of the text invalidates what is in flight: only the
  // answer to the newest question is shown.
  let seq = 0;
  let abort: AbortController | null = null;

  const hide = () => {
    list.hidden = true;
    active = -1;
  };
  const highlight = () => {
    items.forEach((it, i) => {
      it.el.classList.toggle('on', i === active);
      it.el.setAttribute('aria-selected', String(i === active));
    });
  };
  const pick = (it: Item) => {
    if (!ctx) return;
    const text = input.value;
    const rest = text.slice(ctx.end);
    // One space after a value, unless a space or ")" follows already.
    const after = it.after === ' ' && /^[\s)]/.test(rest) ? '' : it.after;
    input.value = text.slice(0, ctx.start) + it.insert + after + rest;
    let at = ctx.start + it.insert.length + after.length;
    if (!after && /^\s/.test(rest)) at++;
    input.setSelectionRange(at, at);
    input.focus();
    hide();
    // A name chosen: its values are offered straight away.
    update();
  };
  const show = (next: Array<{ insert: string; after: string; content: HTMLElement[]; value: string; title: string; kind: string }>) => {
    clear(list);
    active = -1;
    items = next.map((n, i) => {
      const el = h(
        'li',
        {
          role: 'option',
          'data-value': n.value,
          'data-kind': n.kind,
          title: n.title,
          onmousedown: (ev: MouseEvent) => {
            ev.preventDefault();
            pick(items[i]);
          },
          onmouseenter: () => {
            active = i;
            highlight();
          },
        },
        ...n.content,
      );
      list.append(el);
      return { insert: n.insert, after: n.after, el };
    });
    list.hidden = items.length === 0;
  };

  const names = (c: Extract<ExprContext, { kind: 'dim' }>) => {
    const word = c.typed.toLowerCase();
    const opts = filterOptions().filter(([n]) => n.startsWith(word) && n !== word).slice(0, 8);
    show(opts.map(([n, l]) => ({ insert: n, after: ' = ', value: n, title: l, kind: 'dim', content: [h('b', null, n), h('small', null, ' ' + l)] })));
  };

  const values = async (my: number, c: Extract<ExprContext, { kind: 'value' }>) => {
    abort?.abort();
    abort = new AbortController();
    let r: ValuesResp;
    try {
      r = await get<ValuesResp>('values', { dim: c.dim, q: c.typed, limit: 10, ...range() }, abort.signal);
    } catch (e) {
      // No completion rather than an error: the expression is still checked on Apply.
      if (!isAbortError(e) && my === seq) hide();
      return;
    }
    // Newer typing asked again, or the field was left meanwhile.
    if (my !== seq || document.activeElement !== input) return;
    const typed = c.typed.toLowerCase();
    const shown = c.quote + c.typed;
    const opts = (r.values || [])
      .filter((v) => v.value.toLowerCase().startsWith(typed))
      .map((v) => ({ ...v, insert: quoteValue(v.value) }))
      .filter((v): v is { value: string; bytes: number; insert: string } => v.insert !== null && v.insert !== shown);
    show(
      opts.map((v) => ({
        insert: v.insert,
        after: ' ',
        value: v.value,
        kind: 'value',
        title: `${c.dim} = ${v.insert}: ${fmt.bytes(v.bytes)} in this range`,
        content: [h('b', null, v.insert), h('small', null, ' ' + fmt.bytes(v.bytes))],
      })),
    );
  };

  const update = () => {
    const my = ++seq;
    clearTimeout(timer);
    ctx = exprContext(input.value, input.selectionStart ?? input.value.length);
    if (!ctx) {
      abort?.abort();
      clear(list);
      items = [];
      hide();
      return;
    }
    if (ctx.kind === 'dim') {
      abort?.abort();
      names(ctx);
      return;
    }
    const c = ctx;
    // Debounced: one question once typing pauses.
    timer = window.setTimeout(() => void values(my, c), 150);
  };

  input.addEventListener('input', update);
  input.addEventListener('blur', () => window.setTimeout(hide, 150));
  input.addEventListener('keydown', (ev: KeyboardEvent) => {
    const open = !list.hidden && items.length > 0;
    if ((ev.key === 'ArrowDown' || ev.key === 'ArrowUp') && open) {
      ev.preventDefault();
      active = (active + (ev.key === 'ArrowDown' ? 1 : -1) + items.length + (active < 0 && ev.key === 'ArrowUp' ? 1 : 0)) % items.length;
      highlight();
    } else if (ev.key === 'Tab' && open) {
      ev.preventDefault();
      pick(items[active >= 0 ? active : 0]);
    } else if (ev.key === 'Enter' && open && active >= 0) {
      // Enter takes the suggestion chosen with the arrows; otherwise it applies the expression.
      ev.preventDefault();
      pick(items[active]);
    } else if (ev.key === 'Enter' || (ev.key === 'Escape' && !list.hidden)) {
      if (ev.key === 'Escape') ev.preventDefault();
      // Nothing in flight shows up after this.
      seq++;
      clearTimeout(timer);
      hide();
    }
  });
}
