/** Runs the `resumable` command as a user does: a child process in a folder, stdout and stderr kept. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ROOT, TSX } from './child-server.js';

export interface CliRun {
  proc: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>;
}

export function runCli(cwd: string, args: string[], env: Record<string, string> = {}): CliRun {
  const started = Date.now();
  const proc = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd,
    env: { ...process.env, RESUMABLE_CACHE_DIR: join(cwd, 'cache'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (b: Buffer) => {
    stdout += b;
  });
  proc.stderr?.on('data', (b: Buffer) => {
    stderr += b;
  });
  const done = once(proc, 'exit').then(([code]) => ({
    code: code as number | null,
    stdout,
    stderr,
    ms: Date.now() - started,
  }));
  return { proc, done };
}
