const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

// 1234567 → "1.23 M"; keeps three significant digits.
export function si(n: number | null | undefined, unit = ''): string {
  if (n === null || n === undefined || !isFinite(n)) return '–';
  const neg = n < 0;
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1000 && i < SI.length - 1) {
    v /= 1000;
    i++;
  }
  let s: string;
  if (v === 0) s = '0';
  else if (i === 0 && Number.isInteger(v)) s = String(v);
  else if (v >= 100) s = v.toFixed(0);
  else if (v >= 10) s = v.toFixed(1);
  else if (v >= 0.1) s = v.toFixed(2);
  // Two significant digits below 0.1 too: 0.012 and 0.015 (axis ticks of a
  // small discard rate) must not both read "0.01".
  else s = v.toPrecision(2);
  return (neg ? '-' : '') + s + (unit || SI[i] ? ' ' : '') + SI[i] + unit;
}

export const bps = (n: number | null | undefined) => si(n, 'b/s');
export const pps = (n: number | null | undefined) => si(n, 'p/s');
export const bytes = (n: number | null | undefined) => si(n, 'B');
export const count = (n: number | null | undefined) => si(n, '');
export const perSec = (n: number | null | undefined) => si(n, '/s');

// Axis labels for ratios: as many decimals as the magnitude needs.
export function pctAxis(r: number): string {
  const p = Math.abs(r * 100);
  if (p === 0) return '0%';
  if (p < 0.01) return '<0.01%';
  return (p >= 10 ? p.toFixed(0) : p >= 1 ? p.toFixed(1) : p.toFixed(2)) + '%';
}

export function int(n: number | null | undefined): string {
  if (n === null || n === undefined || !isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

export function pct(r: number | null | undefined, digits = 1): string {
  if (r === null || r === undefined || !isFinite(r)) return '–';
  const p = r * 100;
  if (p > 0 && p < Math.pow(10, -digits)) return '<' + Math.pow(10, -digits) + '%';
  return p.toFixed(digits) + '%';
}

function pad(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

// The time zone of every time shown and typed: UTC or the browser's own
// (persisted in localStorage, flowlens.tz).
export type TZ = 'utc' | 'local';
const TZ_KEY = 'flowlens.tz';
let zone: TZ = readTZ();

function readTZ(): TZ {
  try {
    return localStorage.getItem(TZ_KEY) === 'utc' ? 'utc' : 'local';
  } catch {
    return 'local';
  }
}

export function tz(): TZ {
  return zone;
}

export function setTZ(z: TZ): void {
  zone = z;
  try {
    localStorage.setItem(TZ_KEY, z);
  } catch {
    /* private mode: not persisted */
  }
}

// "UTC+05:30" for an offset in minutes east of UTC.
export function offsetText(minutes: number): string {
  if (!minutes) return 'UTC';
  const a = Math.abs(minutes);
  return 'UTC' + (minutes < 0 ? '−' : '+') + pad(Math.floor(a / 60)) + ':' + pad(a % 60);
}

// What the local zone is: "Europe/Paris, UTC+01:00".
export function localZoneText(): string {
  let name = '';
  try {
    name = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    /* no Intl */
  }
  const off = offsetText(-new Date().getTimezoneOffset());
  return name && name !== 'UTC' ? name + ', ' + off : off;
}

// The short name of the zone in use, shown next to times ("UTC", "UTC+01:00").
export function zoneText(): string {
  return zone === 'utc' ? 'UTC' : offsetText(-new Date().getTimezoneOffset());
}

// The fields of a time in the zone in use.
export function parts(ms: number): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const t = new Date(ms);
  return zone === 'utc'
    ? { y: t.getUTCFullYear(), mo: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours(), mi: t.getUTCMinutes(), s: t.getUTCSeconds() }
    : { y: t.getFullYear(), mo: t.getMonth() + 1, d: t.getDate(), h: t.getHours(), mi: t.getMinutes(), s: t.getSeconds() };
}

// In the zone in use, ISO-like, no seconds unless asked: "2026-11-26 04:55".
export function datetime(d: Date | string | number | null | undefined, seconds = false): string {
  if (d === null || d === undefined || d === '') return '–';
  const t = d instanceof Date ? d : new Date(typeof d === 'number' ? d : Date.parse(d));
  if (isNaN(t.getTime())) return String(d);
  const p = parts(t.getTime());
  const s = `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}`;
  return seconds ? s + ':' + pad(p.s) : s;
}

// For the custom range's inputs: "2026-11-26 04:55", seconds only when not 0.
export function inputText(ms: number): string {
  const p = parts(ms);
  return datetime(ms, p.s !== 0);
}

// A time typed as ISO 8601 ("2026-11-26 04:55", "2026-11-26T04:55:30",
// "2026-11-26", with an optional "Z" or "+01:00" that wins over the zone in
// use): ms, or a message saying what is wrong.
export function parseInput(text: string): number | string {
  const v = text.trim();
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?$/.exec(v);
  if (!v) return 'empty: type a date and time, e.g. 2026-11-20 08:00';
  if (!m) return `"${v}" is not a date and time: type YYYY-MM-DD HH:MM (ISO 8601, 24 h), e.g. 2026-11-20 08:00`;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number);
  if (mo < 1 || mo > 12) return `"${v}": month ${mo} does not exist`;
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d < 1 || d > days) return `"${v}": ${y}-${pad(mo)} has no day ${d}`;
  if (h > 23 || mi > 59 || s > 59) return `"${v}": the time of day must be 00:00 to 23:59:59`;
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  const z = m[7];
  if (z) {
    if (/^(z|utc)$/i.test(z)) return utc;
    const o = /^([+-])(\d{2}):?(\d{2})$/.exec(z)!;
    return utc - (o[1] === '-' ? -1 : 1) * (+o[2] * 60 + +o[3]) * 60000;
  }
  if (zone === 'utc') return utc;
  return new Date(y, mo - 1, d, h, mi, s).getTime();
}

// "12 s ago", "4 min ago", "3 h ago", "2 d ago".
export function ago(d: string | null | undefined, now = Date.now()): string {
  if (!d) return 'never';
  const t = Date.parse(d);
  if (isNaN(t)) return String(d);
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 90) return s + ' s ago';
  if (s < 90 * 60) return Math.round(s / 60) + ' min ago';
  if (s < 36 * 3600) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}

export function secondsSince(d: string | null | undefined, now = Date.now()): number {
  if (!d) return Infinity;
  const t = Date.parse(d);
  return isNaN(t) ? Infinity : (now - t) / 1000;
}

// Go-style duration ("168h0m0s", "168h") → "7 d".
export function duration(s: string | null | undefined): string {
  if (!s) return '–';
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?$/.exec(s);
  if (!m) return s;
  const secs = (+(m[1] || 0)) * 3600 + (+(m[2] || 0)) * 60 + (+(m[3] || 0));
  if (secs >= 86400 && secs % 86400 === 0) return secs / 86400 + ' d';
  if (secs >= 3600 && secs % 3600 === 0) return secs / 3600 + ' h';
  if (secs >= 60 && secs % 60 === 0) return secs / 60 + ' min';
  return secs + ' s';
}

export function speed(bitsPerSecond: number | null | undefined): string {
  if (!bitsPerSecond) return '–';
  return si(bitsPerSecond, 'b/s');
}

// avg, max, p95 (nearest rank) and last of the steps with data.
export function stats(vals: number[]): { avg: number; max: number; p95: number; last: number | null; total: number } {
  if (!vals.length) return { avg: 0, max: 0, p95: 0, last: null, total: 0 };
  const total = vals.reduce((a, v) => a + v, 0);
  const sorted = [...vals].sort((a, b) => a - b);
  const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
  return { avg: total / vals.length, max: sorted[sorted.length - 1], p95, last: vals[vals.length - 1], total };
}
