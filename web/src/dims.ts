import type { Dimension } from './api';

// The built-in list (generated from internal/schema) is the fallback when
// /api/v1/dimensions is unavailable; the server's list wins.
import { BUILTIN, EITHER_SHORT } from './schema.gen';
export { BUILTIN, EITHER_SIDE } from './schema.gen';

let current: Dimension[] = BUILTIN;
let either: Dimension[] = [];

// The server's dimensions, and its either-side ones (absent on older servers:
// none offered then).
export function setDimensions(d: Dimension[] | null | undefined, e?: Dimension[] | null): void {
  if (d && d.length) {
    current = d;
    fromServer = true;
  }
  if (e && e.length) either = e;
}

let fromServer = false;

// Whether the server's list is in (else a saved view cannot be checked against it).
export function dimensionsKnown(): boolean {
  return fromServer;
}

// A dimension (or either-side one) this flowlens has.
export function known(name: string): boolean {
  return current.some((d) => d.name === name) || either.some((d) => d.name === name);
}

export function eitherSide(): Dimension[] {
  return either;
}

// What filters can name: the dimensions, then the either-side ones.
export function filterOptions(): Array<[string, string]> {
  return [...current.map((d): [string, string] => [d.name, d.label]), ...either.map((d): [string, string] => [d.name, d.label])];
}

export function dimensions(): Dimension[] {
  return current;
}

export function label(name: string): string {
  return current.find((d) => d.name === name)?.label ?? BUILTIN.find((d) => d.name === name)?.label ?? EITHER_SHORT[name] ?? name;
}

// Short column headings for dense tables.
const SHORT: Record<string, string> = {
  src_ip: 'Source',
  dst_ip: 'Destination',
  proto: 'Proto',
  src_port: 'Src port',
  dst_port: 'Dst port',
  in_port: 'In port',
  out_port: 'Out port',
};
export function short(name: string): string {
  return SHORT[name] ?? label(name);
}

export function options(withNone?: string): Array<[string, string]> {
  const o: Array<[string, string]> = current.map((d) => [d.name, d.label]);
  return withNone !== undefined ? [['', withNone], ...o] : o;
}
