/**
 * The `resumable` command sizes libuv's thread pool (src/cli/resumable.cts): 16 threads unless the
 * user set UV_THREADPOOL_SIZE. Seen from outside: the server process started through the package's
 * bin has 12 more threads than the same server told UV_THREADPOOL_SIZE=4 (Node's default).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './helpers/ports.js';
import { tempDir } from './helpers/server.js';

const BIN = 'dist/cli/resumable.cjs';

/** Starts `resumable serve` through the bin, waits for it to answer, returns its thread count. */
async function threadsOfServer(env: Record<string, string | undefined>): Promise<number> {
  const dir = await tempDir('rt-pool-');
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, 'serve', '--port', String(port), '--data', dir, '--log-level', 'error'],
    { env: { ...process.env, ...env }, stdio: 'ignore' },
  );
  try {
    for (let i = 0; i < 600; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/api/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await sleep(100);
    }
    return readdirSync(`/proc/${child.pid}/task`).length;
  } finally {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

it('the bin gives the server 16 pool threads unless UV_THREADPOOL_SIZE says otherwise', {
  skip:
    (!existsSync(BIN) && `build first (npm run build): ${BIN} is missing`) ||
    (!existsSync('/proc/self/task') && 'needs /proc to count threads'),
  timeout: 120_000,
}, async () => {
  const ours = await threadsOfServer({ UV_THREADPOOL_SIZE: undefined });
  const four = await threadsOfServer({ UV_THREADPOOL_SIZE: '4' });
  assert.ok(ours - four >= 12, `${ours} threads through the bin, ${four} with UV_THREADPOOL_SIZE=4`);
});
