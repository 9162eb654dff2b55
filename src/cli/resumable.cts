#!/usr/bin/env node
/**
 * The `resumable` command's entry: sizes libuv's thread pool, then loads the CLI (main.ts).
 *
 * Every file operation of the server (open, read, write, fsync, rename, stat) runs on libuv's
 * thread pool, 4 threads by default: under upload load those four sit in writes and syncs and a
 * handshake's few small file operations queue behind them. Measured with the attack bench (256 MiB,
 * one run each, 2 cores): with 32 threads a handshake's p99 with no attack went 308 → 120 ms and
 * the CLI upload beside it 4.14 → 2.26 s. The size must be set before the pool's first use, which
 * an ES module entry is too late for (Node's ESM loader reads files on the pool): hence this
 * CommonJS file. A UV_THREADPOOL_SIZE given by the user wins.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
import('./main.js').catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
