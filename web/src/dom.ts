// A tiny element builder: h('div.cls', {title: 'x', onclick}, child, …).
type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(
  spec: K | `${K}.${string}` | `${K}#${string}`,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const m = /^([a-z0-9]+)(?:#([\w-]+))?((?:\.[\w-]+)*)$/.exec(spec);
  if (!m) throw new Error('bad element spec ' + spec);
  const el = document.createElement(m[1] as K);
  if (m[2]) el.id = m[2];
  if (m[3]) el.className = m[3].slice(1).replace(/\./g, ' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2), v as EventListener);
      } else if (k === 'class') {
        el.className = (el.className ? el.className + ' ' : '') + String(v);
      } else if (k === 'style' && typeof v === 'object') {
        Object.assign(el.style, v);
      } else if (k === 'value' || k === 'checked' || k === 'selected') {
        (el as unknown as Record<string, unknown>)[k] = v;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function select(
  value: string,
  options: Array<[string, string]>,
  onchange: (v: string) => void,
  attrs?: Attrs,
): HTMLSelectElement {
  const s = h('select', attrs ?? null, options.map(([v, label]) => h('option', { value: v }, label)));
  s.value = value;
  s.addEventListener('change', () => onchange(s.value));
  return s;
}

// Segmented control: a row of buttons, one active.
export function segmented(
  value: string,
  options: Array<[string, string]>,
  onchange: (v: string) => void,
  attrs?: Attrs,
): HTMLElement {
  return h(
    'span.seg',
    attrs ?? null,
    options.map(([v, label]) =>
      h('button', { type: 'button', class: v === value ? 'on' : undefined, 'data-value': v, onclick: () => onchange(v) }, label),
    ),
  );
}
