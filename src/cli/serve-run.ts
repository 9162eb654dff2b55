/** What `resumable serve` does once its options are read: check them, start, announce, stop on signals. */
import cluster from 'node:cluster';
import { z } from 'zod';
import { type RunningServer, startServer } from '../server/app.js';
import { ConfigError, parseServerConfig, type ServerConfig } from '../server/config.js';
import {
  type PrimaryMessage,
  runWorkers,
  type WorkerMessage,
  type WorkerSetting,
  workerRole,
} from '../server/workers.js';
import { assertS3SdkInstalled, describeStorage } from '../storage/create-storage.js';
import { configInput, optionNamed } from './serve-options.js';

interface ServeConfig {
  /** Processes serving the port (workers.ts); 1: this one. */
  workers: number;
  server: ServerConfig;
}

/** Commander's values checked by the server's configuration schema; a bad one is a usage error. */
function readConfig(
  values: Record<string, unknown>,
  worker: WorkerSetting | undefined,
  usageError: (message: string) => never,
): ServeConfig {
  const { workers, server } = configInput(values);
  // A worker listens where the primary tells it to, in the role it was given.
  if (worker)
    Object.assign(server, { port: worker.port, role: worker.role, ownerSocket: worker.ownerSocket });
  try {
    return { workers: z.int().positive().parse(workers), server: parseServerConfig(server) };
  } catch (err: unknown) {
    if (!(err instanceof ConfigError)) throw err;
    const lines = err.issues.map((i) => `${optionNamed(i.path) ?? i.path.join('.')}: ${i.message}`);
    return usageError(`error: ${lines.join('\nerror: ')}`);
  }
}
/** With --workers, the first worker speaks for all of them. */
function banner(running: RunningServer, workers: number, worker: WorkerSetting | undefined): string {
  const base = running.config.publicUrl ?? running.url;
  const storage = running.config.storage;
  return [
    `resumable-transfer listening on ${running.url}`,
    `  home        ${base}/${running.config.webDir ? '' : '   (an index of the files and the API: the web page is not built, run npm run build)'}`,
    `  downloads   ${base}/download/Wallpaper1.jpg … /download/Wallpaper10.jpg   (list: ${base}/api/files)`,
    `  upload API  ${base}/api/upload/handshake , ${base}/api/upload`,
    `  uploaded    ${base}/upload/${
      running.service.limits.instantUpload === 'open'
        ? '<fileId><ext>'
        : '<fileId>-<sha256 first 32 hex><ext>   (only the links the upload API answers: --instant-upload)'
    }`,
    `  ${storage.kind === 's3' ? 'storage' : 'data   '}     ${describeStorage(storage)}`,
    ...(worker
      ? [
          `  workers     ${workers} processes${worker.role === 'owner' ? `, this one (${process.pid}) handles uploads` : ''}`,
        ]
      : []),
    '',
  ].join('\n');
}
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}

/** SIGINT/SIGTERM (or the primary's 'stop'): finish running requests, then exit; a second signal exits at once. */
function stopOnSignals(running: RunningServer): void {
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    running.logger.info({ why }, 'stopping: finishing running requests');
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  let signals = 0;
  const onSignal = (signal: string) => {
    // A second signal: stop now. (Ctrl-C reaches a worker directly and through the primary's
    // 'stop' message: that counts once.)
    if (++signals > 1) process.exit(130);
    stop(signal);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('message', (m: PrimaryMessage) => {
    if (m?.type === 'stop') stop('asked by the primary process');
  });
}

/** Serves until SIGINT/SIGTERM; with --workers N, this (primary) process only supervises them. */
export async function serve(
  values: Record<string, unknown>,
  usageError: (message: string) => never,
): Promise<void> {
  const worker = workerRole();
  const { workers, server } = readConfig(values, worker, usageError);
  // Said at once, with the npm command, rather than by each worker as it fails to start.
  if (server.storage.kind === 's3') assertS3SdkInstalled();
  if (workers > 1 && cluster.isPrimary) {
    const { port, host } = server;
    const log = (line: string) => process.stderr.write(`${line}\n`);
    process.exitCode = await runWorkers(workers, { port, host }, server.storage.kind === 's3', log);
    return;
  }
  const storage =
    server.storage.kind === 's3'
      ? {
          ...server.storage,
          onBucketCreated: (bucket: string) => process.stdout.write(`created bucket ${bucket}\n`),
        }
      : server.storage;
  const running = await startServer({ ...server, storage });
  if (worker) process.send?.({ type: 'ready' } satisfies WorkerMessage);
  if (!worker || worker.first) {
    process.stdout.write(banner(running, workers, worker));
    if (running.config.auth === 'none' && !isLoopback(running.config.host)) {
      const reads =
        running.service.limits.instantUpload === 'open'
          ? 'and read uploads by their MD5 (the /upload/ links, --instant-upload open)'
          : 'and read any upload whose link it was given';
      process.stderr.write(
        `warning: listening on ${running.config.host} without access control: anyone who reaches it can upload ${reads}. Use --auth token or --auth signed (docs/security.md).\n`,
      );
    }
  }
  stopOnSignals(running);
}
