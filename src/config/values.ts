/**
 * Values as people type them in flags and environment variables: sizes (64MiB), durations (24h),
 * counts, ports, URLs, lists. Each parser returns the value or throws an Error whose message shows
 * a good value; the CLI turns it into a usage error naming the option (cli/parse.ts), the server's
 * configuration schema into an issue naming the field (server/config.ts).
 */
import { availableParallelism } from 'node:os';
import bytes from 'bytes';
import ms from 'ms';

/** A number and one of the units we accept; `bytes` alone would read any unknown unit (64XB) as bytes. */
const SIZE_WITH_UNIT = /^\d+(?:\.\d+)? *(?:[kmg]i?b)$/i;

/** Plain bytes, or KB/MB/GB, also spelt KiB/MiB/GiB: binary multiples either way, as `bytes` reads them. */
export function parseSize(value: string): number {
  const n = /^\d+$/.test(value)
    ? Number(value)
    : SIZE_WITH_UNIT.test(value)
      ? bytes.parse(value.replace(/ib$/i, 'b'))
      : null;
  if (n === null || !Number.isSafeInteger(n) || n <= 0) {
    throw new Error(`expected a size such as 65536, 8MiB or 1GB, got "${value}"`);
  }
  return n;
}

/** In milliseconds; a plain number is seconds. */
export function parseDuration(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) * 1000 : ms(value as ms.StringValue);
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    throw new Error(`expected a duration such as 90s, 30m or 24h, got "${value}"`);
  }
  return n;
}

export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new Error(`expected a positive whole number, got "${value}"`);
  }
  return n;
}

/** A whole number, 0 included (`--max-redirects 0`: follow none). */
export function parseCountOrZero(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new Error(`expected a whole number (0 or more), got "${value}"`);
  }
  return n;
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new Error(`expected a port 0-65535, got "${value}"`);
  return n;
}

/** `auto`: one per core (what the OS lets this process use), as nginx's worker_processes auto. */
export function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 256)
    throw new Error(`expected auto or a number of processes 1-256, got "${value}"`);
  return n;
}

/** An absolute http(s) URL, returned as given. */
export function parseHttpUrl(value: string): string {
  const protocol = URL.canParse(value) ? new URL(value).protocol : undefined;
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new Error(`expected an absolute http(s) URL such as https://files.example.com, got "${value}"`);
  }
  return value;
}

/**
 * A server's base URL as a person types it: `localhost:8000` or `files.example.com` mean http://
 * (as curl reads them), since `new URL('localhost:8000')` parses as the scheme "localhost:" and
 * the first request failed with "Unsupported protocol localhost:". Then an absolute http(s) URL.
 */
export function parseServerUrl(value: string): string {
  return parseHttpUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
}

/** A comma-separated list; empty items (a trailing comma) are dropped. */
export function parseList(value: string): string[] {
  return value.split(',').filter(Boolean);
}

/** on/off (also true/false, yes/no, 1/0), for a switch that an environment variable may turn off. */
export function parseSwitch(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(v)) return true;
  if (['off', 'false', 'no', '0'].includes(v)) return false;
  throw new Error(`expected on or off, got "${value}"`);
}
