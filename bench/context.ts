/** What every bench case shares: the options, the work folder, the result rows and their helpers. */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseCount, parseSize } from '../src/config/values.js';
import { hasCommand, MiB, type Stat } from './measure.js';
import type { Row } from './report.js';
import { ROOT } from './servers.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    size: { type: 'string' },
    only: { type: 'string' },
    durability: { type: 'string' },
  },
});
export const QUICK = args.quick ?? false;
/** Run only the cases whose name contains this (results are printed, not written). */
export const ONLY = args.only;
// Sizes as the CLI takes them (256MiB, 1GiB, bytes); a bad value stops the bench, never NaN.
export const RUNS = args.runs ? parseCount(args.runs) : QUICK ? 1 : 3;
export const SIZE = args.size ? parseSize(args.size) : QUICK ? 64 * MiB : 1024 * MiB;
/**
 * Our server's --durability (chunk or group; default: the server's own, group). Passed to every
 * server the bench starts through RESUMABLE_DURABILITY, which `resumable serve` reads.
 */
export const DURABILITY = args.durability ?? process.env.RESUMABLE_DURABILITY ?? 'group';
if (DURABILITY !== 'chunk' && DURABILITY !== 'group') throw new Error('--durability: chunk or group');
process.env.RESUMABLE_DURABILITY = DURABILITY;
export const WORK = join(ROOT, 'bench', 'work');
export const LIB = join(WORK, 'lib');
export const FILE = join(LIB, 'bench.bin');
export const CLI = join(ROOT, 'dist/cli/resumable.cjs');
export const rows: Row[] = [];
export const missing: string[] = [];

/** A row compared with a peer; `lowerIsBetter` for times, else higher is better. */
export function compared(
  issue: string,
  measurement: string,
  unit: string,
  ours: Stat,
  peer: Stat,
  peerName: string,
  limit: number,
  lowerIsBetter: boolean,
  goal: string,
) {
  const ratio = ours.median / peer.median;
  const met = lowerIsBetter ? ratio <= limit : ratio >= limit;
  rows.push({ issue, measurement, unit, ours, peer, peerName, ratio, goal, note: met ? 'met' : 'NOT met' });
}

/** A figure beside another of the same run that it is not judged against (no goal). */
export function beside(
  issue: string,
  measurement: string,
  unit: string,
  ours: Stat,
  other: Stat,
  otherName: string,
) {
  rows.push({
    issue,
    measurement,
    unit,
    ours,
    peer: other,
    peerName: otherName,
    ratio: ours.median / other.median,
    goal: 'figure only',
  });
}

/** A figure of ours alone; with `maxMb`, a memory goal checked against the worst run. */
export function alone(issue: string, measurement: string, unit: string, ours: Stat, maxMb?: number) {
  const goal = maxMb === undefined ? 'figure only' : `under ${maxMb} MB`;
  const note = maxMb === undefined ? undefined : ours.max < maxMb ? 'met' : 'NOT met';
  rows.push({
    issue,
    measurement,
    unit,
    ours,
    peer: null,
    peerName: '—',
    ratio: null,
    goal,
    ...(note ? { note } : {}),
  });
}

export function need(cmd: string, apt: string): boolean {
  if (hasCommand(cmd)) return true;
  missing.push(`${cmd}: apt-get install -y ${apt}`);
  return false;
}

export function log(msg: string) {
  process.stderr.write(`bench: ${msg}\n`);
}

export async function makeFile(path: string, size: number) {
  const fh = await open(path, 'w');
  const block = Buffer.alloc(8 * MiB);
  let seed = 12345;
  for (let done = 0; done < size; done += block.length) {
    for (let i = 0; i < block.length; i += 4) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      block.writeUInt32LE(seed, i);
    }
    await fh.write(block, 0, Math.min(block.length, size - done));
  }
  // On disk before any figure is taken: the kernel's write-back of a fresh file (and of what the
  // cases before wrote) otherwise runs during the next measurement and takes its CPU.
  await fh.sync();
  await fh.close();
}
