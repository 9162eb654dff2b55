/** Sizes, speeds and times for people (bytes: the well-kept `bytes` package, also used by the CLI). */
import bytes from 'bytes';

export function size(n: number): string {
  return bytes.format(n, { unitSeparator: ' ', decimalPlaces: n < 1024 * 1024 ? 0 : 1 }) ?? `${n} B`;
}

export function speed(bps: number): string {
  return `${size(Math.round(bps))}/s`;
}

export function percent(done: number, total: number): string {
  return `${total > 0 ? Math.floor((done / total) * 100) : 100}%`;
}

export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
