/**
 * The small-files thread (started by small-files.ts): writes a small file atomically — its
 * folders, a temp file, the rename over its path — with synchronous calls, one request at a time.
 * Each step done from the event loop is a trip through the thread pool and back through the loop,
 * and under load each trip waits a turn of the loop; here the whole write is one trip. No fsync is
 * ever made here (a slow one would hold every write behind it): durable writes stay on the pool.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

export interface SmallFileRequest {
  seq: number;
  path: string;
  tmp: string;
  data: string;
  /** Folders to create first, in order, each only if missing. */
  dirs: string[];
}

export interface SmallFileReply {
  seq: number;
  /** The failure, with the errno code that mapFsError reads. */
  error?: { message: string; code?: string | undefined };
}

const port = parentPort;
if (!port) throw new Error('small-files-thread runs only as a worker thread');

function handle(m: SmallFileRequest): SmallFileReply {
  try {
    for (const dir of m.dirs) {
      try {
        mkdirSync(dir);
      } catch (err: unknown) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') mkdirSync(dir, { recursive: true });
        else if (code !== 'EEXIST') throw err;
      }
    }
    try {
      writeFileSync(m.tmp, m.data);
      renameSync(m.tmp, m.path);
    } catch (err: unknown) {
      rmSync(m.tmp, { force: true });
      throw err;
    }
    return { seq: m.seq };
  } catch (err: unknown) {
    const e = err as NodeJS.ErrnoException;
    return { seq: m.seq, error: { message: e.message ?? String(err), code: e.code } };
  }
}

port.on('message', (m: SmallFileRequest) => port.postMessage(handle(m)));
