import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { alone, beside, CLI, compared, FILE, LIB, RUNS, WORK } from '../context.js';
import { hashSeconds, interleave, MB, type Stat, stat, timed } from '../measure.js';
import { onFreshServer, ROOT, startOurs, startTus } from '../servers.js';

/**
 * Ours and tus in turns (the machine's speed drifts over minutes), each run starting with nothing
 * left to write back from the one before: tus never syncs, so its write-back would otherwise run
 * under our next measurement, and ours (which fdatasyncs every chunk) leaves nothing for tus.
 */
export async function uploadVsTus() {
  const rss: number[] = [];
  const deferredRss: number[] = [];
  /** Our CLI, hashes not cached; `flags` beside the defaults, its peak RSS into `peaks`. */
  const cli = (flags: string[], peaks: number[]) => () =>
    onFreshServer(
      join(WORK, 'up-data'),
      (dir) => startOurs(dir, LIB),
      async (server) => {
        const cache = join(WORK, 'hash-cache');
        await rm(cache, { recursive: true, force: true });
        const r = await timed(process.execPath, [CLI, 'upload', '-q', ...flags, '-s', server.url, FILE], {
          ...process.env,
          RESUMABLE_CACHE_DIR: cache,
        });
        peaks.push(r.peakRss / MB);
        return r.ms / 1000;
      },
    );
  const ours = cli([], rss);
  // Sending while hashing, the chunks by xxh64 (PROTOCOL.md §Chunk checksums): no chunk MD5s on the client.
  const deferred = cli(['--deferred'], deferredRss);
  const tus = () =>
    onFreshServer(join(WORK, 'tus-data'), startTus, async (server) => {
      const upload = join(ROOT, 'bench/tus-upload.ts');
      const r = await timed(process.execPath, ['--import', 'tsx', upload, `${server.url}/files`, FILE]);
      return r.ms / 1000;
    });
  // The course's client (bench/course-upload.ts), against our server on its default settings.
  const course = () =>
    onFreshServer(
      join(WORK, 'course-data'),
      (dir) => startOurs(dir, LIB),
      async (server) => {
        const client = join(ROOT, 'bench/course-upload.ts');
        const r = await timed(process.execPath, ['--import', 'tsx', client, server.url, FILE]);
        return r.ms / 1000;
      },
    );
  const [ourTime, tusTime, courseTime, deferredTime] = (await interleave(RUNS, [
    ours,
    tus,
    course,
    deferred,
  ])) as [Stat, Stat, Stat, Stat];
  compared(
    '#17',
    'upload end to end (hash + send + verify)',
    's',
    ourTime,
    tusTime,
    'tus-js-client → @tus/server',
    1,
    true,
    '≤ 1.0× tus time',
  );
  alone('#17', 'client peak RSS, upload', 'MB', stat(rss), 150);
  compared(
    '#17',
    'upload end to end, --deferred: sent while hashed, chunks by xxh64 (no chunk MD5s on the client)',
    's',
    deferredTime,
    tusTime,
    'tus-js-client → @tus/server',
    1,
    true,
    '≤ 1.0× tus time',
  );
  alone('#17', 'client peak RSS, upload --deferred', 'MB', stat(deferredRss), 150);
  compared(
    '#17',
    "the course's protocol end to end (1 MiB chunks, MD5 ids, one multipart request at a time, from Node)",
    's',
    courseTime,
    tusTime,
    'tus-js-client → @tus/server',
    2,
    true,
    '≤ 2.0× tus time',
  );
  // #17's floor: one MD5 pass over the file on one core, in the same run.
  const floor = stat([await hashSeconds(FILE, ['md5'])]);
  beside(
    '#17',
    'upload end to end vs the hashing floor',
    's',
    ourTime,
    floor,
    'one MD5 pass over the file, one core',
  );
}
