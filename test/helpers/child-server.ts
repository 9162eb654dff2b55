/** Runs `resumable serve` as a real child process (for kill -9 tests). */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export interface ChildServer {
  url: string;
  proc: ChildProcess;
  alive(): boolean;
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export const ROOT = join(import.meta.dirname, '..', '..');
/** tsx's loader by URL, so a child started in any folder can run TypeScript. */
export const TSX = import.meta.resolve('tsx');

const spawned = new Set<ChildProcess>();
/** Kills every server a test file started (call from after()). */
export function killAllServers(): void {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  spawned.clear();
}

/** `nofile`: the server runs under `ulimit -n nofile` (in a shell that execs it: same pid). */
export async function spawnServer(
  dataDir: string,
  args: string[] = [],
  options: { nofile?: number } = {},
): Promise<ChildServer> {
  const command = [
    process.execPath,
    '--import',
    TSX,
    join(ROOT, 'src/cli/main.ts'),
    'serve',
    '--port',
    '0',
    '--data',
    dataDir,
    '--log-level',
    'warn',
    ...args,
  ];
  const [file, ...argv] =
    options.nofile === undefined
      ? command
      : ['sh', '-c', `ulimit -n ${options.nofile} && exec "$@"`, 'sh', ...command];
  const proc = spawn(file as string, argv, { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
  spawned.add(proc);
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
    proc.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}): ${out}`));
    });
  });
  proc.stdout?.resume();
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const waitExit = async (signal: NodeJS.Signals) => {
    if (!alive()) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    await exited;
  };
  return { url, proc, alive, kill: () => waitExit('SIGKILL'), stop: () => waitExit('SIGTERM') };
}
