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
  else if (v >= 0.01) s = v.toFixed(2);
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

// Local time, ISO-like, no seconds unless asked: "2026-11-26 04:55".
export function datetime(d: Date | string | number | null | undefined, seconds = false): string {
  if (d === null || d === undefined || d === '') return '–';
  const t = d instanceof Date ? d : new Date(typeof d === 'number' ? d : Date.parse(d));
  if (isNaN(t.getTime())) return String(d);
  const s = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
  return seconds ? s + ':' + pad(t.getSeconds()) : s;
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
