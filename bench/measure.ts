/** Timing, statistics and peak-RSS sampling for the benchmark. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';

export interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function stat(values: number[]): Stat {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, runs: s.length };
}

export async function repeat(runs: number, fn: () => Promise<number>): Promise<Stat> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await fn());
  return stat(values);
}

/**
 * Runs each function once per round, `runs` rounds, so that a drift in the machine's speed (it
 * moves by tens of percent here over minutes) weighs on every contender alike.
 */
export async function interleave(runs: number, fns: (() => Promise<number>)[]): Promise<Stat[]> {
  const values: number[][] = fns.map(() => []);
  for (let i = 0; i < runs; i++) for (const [k, fn] of fns.entries()) values[k]!.push(await fn());
  return values.map(stat);
}

/** Peak resident memory (VmHWM) of a live process, in bytes; 0 if it is gone. */
export async function peakRss(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    return kb * 1024;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system, every thread) a live process has used; 0 if it is gone. */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // After the command name (which may hold spaces): fields 14 and 15 of proc(5), in ticks.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return 0;
  }
}

/** Clock ticks per second of /proc's CPU times. */
export const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * Seconds one core takes to hash a file (read from the page cache) with each of `algorithms` in
 * one pass, by node:crypto (OpenSSL): the floor of what hashing it costs.
 */
export async function hashSeconds(path: string, algorithms: string[]): Promise<number> {
  const { createHash } = await import('node:crypto');
  const { createReadStream } = await import('node:fs');
  // Once to bring it into the page cache, once measured.
  for await (const _ of createReadStream(path, { highWaterMark: 1 << 20 }));
  const hashes = algorithms.map((a) => createHash(a));
  const started = performance.now();
  for await (const b of createReadStream(path, { highWaterMark: 1 << 20 }))
    for (const h of hashes) h.update(b as Buffer);
  for (const h of hashes) h.digest();
  return (performance.now() - started) / 1000;
}

export interface Finished {
  code: number | null;
  ms: number;
  /** Highest VmHWM seen while it ran (sampled every 20 ms). */
  peakRss: number;
  /** CPU seconds it used, as last sampled (every 20 ms) before it ended. */
  cpu: number;
  stderr: string;
}

/** Runs a command to the end, timing it and sampling its peak RSS; a non-zero exit throws. */
export async function timed(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Finished> {
  const started = performance.now();
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b;
  });
  let peak = 0;
  let cpu = 0;
  const timer = setInterval(() => {
    if (!child.pid) return;
    void peakRss(child.pid).then((r) => (peak = Math.max(peak, r)));
    void cpuSeconds(child.pid).then((c) => (cpu = Math.max(cpu, c)));
  }, 20);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(timer);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${code}): ${stderr.trim()}`);
  return { code, ms: performance.now() - started, peakRss: peak, cpu, stderr };
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export const MB = 1e6;
export const MiB = 1024 * 1024;

/** CPU seconds every core of the machine spent busy so far (/proc/stat: all but idle and iowait). */
export async function machineBusySeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) / TICKS;
}
