/**
 * `serve --workers N`: N processes share the port (node:cluster, each worker accepting from the
 * one listening socket: SCHED_NONE, see runWorkers). Downloads, the page and the file list are
 * served by every worker; the upload API is served by ONE of them, the owner, because an upload's
 * locks, region claims and plan caches live in its process (storage/local-disk/, core/). The others, the
 * readers, forward those requests to the owner over a local socket (http/forward.ts). Over S3
 * storage no upload state lives in a process (see storage/s3/s3.ts), so every worker is a peer that
 * serves everything.
 *
 * Why: serving a small range is mostly kernel work done on the event loop's thread (open, fstat,
 * the head's write, sendfile, close), so one process tops out at one core; nginx runs a worker
 * per core. The primary only supervises: a worker that dies is started again (the owner keeps its
 * socket name, so readers reconnect); SIGINT/SIGTERM stop the workers gracefully, then it exits.
 */
import cluster, { type Worker } from 'node:cluster';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type WorkerRole = 'owner' | 'reader' | 'peer';

export interface WorkerSetting {
  role: WorkerRole;
  /** Where the owner answers the readers (owner and reader only). */
  ownerSocket: string | null;
  /** The first worker started prints the banner for all. */
  first: boolean;
  /** The port all workers listen on (the primary's choice when it was given 0). */
  port: number;
}

/** What a worker process learns from its environment (set by `runWorkers`). */
export function workerRole(): WorkerSetting | undefined {
  if (!cluster.isWorker) return undefined;
  const role = process.env.RESUMABLE_ROLE;
  const name = process.env.RESUMABLE_OWNER_SOCKET;
  if (role !== 'owner' && role !== 'reader' && role !== 'peer') return undefined;
  if (role !== 'peer' && !name) return undefined;
  const port = Number(process.env.RESUMABLE_WORKER_PORT);
  if (!Number.isInteger(port) || port <= 0) return undefined;
  return {
    role,
    ownerSocket: name ? socketPath(name) : null,
    first: process.env.RESUMABLE_FIRST === '1',
    port,
  };
}

/** Sent by a worker when it is listening; `stop` asks it to finish its requests and exit. */
export type WorkerMessage = { type: 'ready' };
export type PrimaryMessage = { type: 'stop' };

/** Linux: an abstract socket (no file, no path length limit, gone with the process). */
function socketPath(name: string): string {
  return process.platform === 'linux' ? `\0${name}` : join(tmpdir(), name);
}

/**
 * How long to wait before starting a worker again: 1 s, doubling (to 30 s at most) while the
 * ones before kept dying within a minute of their start, so a worker that cannot run (a bad
 * disk, a full one) does not spin.
 */
export function restartDelay(livedMs: number, previousMs: number | undefined): number {
  if (livedMs >= 60_000 || previousMs === undefined) return 1000;
  return Math.min(30_000, previousMs * 2);
}

/** A free port, for `--port 0`: the workers must all listen on the same one. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Runs as the primary until the workers stopped; resolves with the exit code. */
export async function runWorkers(
  count: number,
  listen: { port: number; host: string },
  /** Every worker may take uploads (no upload state in a process: S3 storage). */
  peers: boolean,
  log: (line: string) => void,
): Promise<number> {
  // Each worker accepts from the shared socket, as nginx's workers do. node:cluster's default
  // on Linux (SCHED_RR: the primary accepts and passes each socket to a worker) loses a
  // connection passed to a worker as it dies: the primary keeps it open and unanswered for ever
  // (3 of 3 runs of the test that kills a worker under new connections). Here a connection the
  // dead worker had accepted is reset and the client retries; the queued ones go to the others.
  // 64 KiB ranges with wrk, 2 workers: 11.4–12.5k req/s handed off, 10.9–12.8k accepted directly.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const ownerSocket = `resumable-transfer-${process.pid}-uploads.sock`;
  // Port 0 in every worker would give each its own port (node:cluster shares a port by number).
  const port = listen.port === 0 ? await freePort(listen.host) : listen.port;
  let stopping = false;
  const roles = new Map<Worker, WorkerRole>();

  let started = 0;
  const startedAt = new Map<Worker, number>();
  const delays = new Map<WorkerRole, number>();
  const start = (role: WorkerRole): Promise<Worker> => {
    const worker = cluster.fork({
      RESUMABLE_ROLE: role,
      RESUMABLE_OWNER_SOCKET: peers ? '' : ownerSocket,
      RESUMABLE_WORKER_PORT: String(port),
      RESUMABLE_FIRST: started++ === 0 ? '1' : '0',
    });
    roles.set(worker, role);
    startedAt.set(worker, Date.now());
    return new Promise((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m?.type !== 'ready') return;
        worker.off('exit', onEarlyExit);
        resolve(worker);
      };
      const onEarlyExit = (code: number | null) => reject(new Error(`the ${role} worker exited (${code})`));
      worker.on('message', onMessage);
      worker.once('exit', onEarlyExit);
    });
  };

  const restarts = new Set<NodeJS.Timeout>();
  const allExited = new Promise<void>((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      const role = roles.get(worker);
      const lived = Date.now() - (startedAt.get(worker) ?? 0);
      roles.delete(worker);
      startedAt.delete(worker);
      if (stopping) {
        if (roles.size === 0) resolve();
        return;
      }
      if (!role) return;
      const delay = restartDelay(lived, delays.get(role));
      delays.set(role, delay);
      log(`${role} worker ${worker.process.pid} exited (${signal ?? code}); another in ${delay / 1000} s`);
      // Not unref'd: when every worker died at once, this timer is what keeps the primary alive.
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!stopping) start(role).catch((err: Error) => log(err.message));
      }, delay);
      restarts.add(timer);
    });
  });

  let signals = 0;
  const stop = () => {
    signals++;
    if (signals > 1) {
      for (const w of roles.keys()) w.process.kill('SIGKILL');
      process.exit(130);
    }
    stopping = true;
    for (const timer of restarts) clearTimeout(timer);
    if (roles.size === 0) process.exit(0);
    for (const w of roles.keys()) if (w.isConnected()) w.send({ type: 'stop' } satisfies PrimaryMessage);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  try {
    // The first one alone: it prepares the data folder (temp files, wallpapers) the others use.
    await start(peers ? 'peer' : 'owner');
    await Promise.all(Array.from({ length: count - 1 }, () => start(peers ? 'peer' : 'reader')));
  } catch (err: unknown) {
    log(`could not start the workers: ${(err as Error).message}`);
    stopping = true;
    for (const w of roles.keys()) w.process.kill('SIGKILL');
    return 1;
  }
  await allExited;
  return 0;
}
