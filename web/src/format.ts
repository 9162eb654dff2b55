/**
 * Sizes, speeds and times for people. One size format everywhere on the page (cards, rows, the
 * overall line, speeds): units of 1024 named B, KB, MB, GB, TB as the CLI names them, whole bytes
 * below 1000, otherwise one decimal and never four digits before the point (1,025,024 bytes is
 * "1.0 MB", not "1001 KB" beside a "1 MB").
 */
const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'] as const;

export function size(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  if (n < 1000) return `${Math.round(n)} B`;
  let value = n;
  let unit = 0;
  // 999.95 would print as "1000.0": the next unit takes it.
  do {
    value /= 1024;
    unit++;
  } while (value >= 999.95 && unit < UNITS.length - 1);
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

export function speed(bps: number): string {
  return `${size(bps)}/s`;
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
