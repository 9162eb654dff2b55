/** Parsers for CLI option values (sizes like 64MiB, durations like 24h). */

import { availableParallelism } from 'node:os';
import bytes from 'bytes';
import { InvalidArgumentError } from 'commander';
import ms from 'ms';

export function parseSize(value: string): number {
  // `bytes` knows KB/MB/GB (binary multiples); accept the IEC spelling KiB/MiB/GiB as the same.
  const n = /^\d+$/.test(value) ? Number(value) : bytes.parse(value.replace(/ib$/i, 'b'));
  if (n === null || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a size such as 65536, 8MiB or 1GB, got "${value}"`);
  }
  return n;
}

export function parseDuration(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) * 1000 : ms(value as ms.StringValue);
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a duration such as 90s, 30m or 24h, got "${value}"`);
  }
  return n;
}

export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive whole number, got "${value}"`);
  }
  return n;
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new InvalidArgumentError(`expected a port 0-65535, got "${value}"`);
  return n;
}

/** `auto`: one per core (what the OS lets this process use), as nginx's worker_processes auto. */
export function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 256)
    throw new InvalidArgumentError(`expected auto or a number of processes 1-256, got "${value}"`);
  return n;
}
