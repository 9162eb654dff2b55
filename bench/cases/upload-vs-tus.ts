import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { alone, CLI, compared, FILE, LIB, RUNS, WORK } from '../context.js';
import { MB, repeat, stat, timed } from '../measure.js';
import { ROOT, startOurs, startTus } from '../servers.js';

export async function uploadVsTus() {
  const rss: number[] = [];
  const ourTime = await repeat(RUNS, async () => {
    const data = join(WORK, 'up-data');
    await rm(data, { recursive: true, force: true });
    const ours = await startOurs(data, LIB);
    try {
      const cache = join(WORK, 'hash-cache');
      await rm(cache, { recursive: true, force: true });
      const r = await timed(process.execPath, [CLI, 'upload', '-q', '-s', ours.url, FILE], {
        ...process.env,
        RESUMABLE_CACHE_DIR: cache,
      });
      rss.push(r.peakRss / MB);
      return r.ms / 1000;
    } finally {
      await ours.stop();
    }
  });
  const tusTime = await repeat(RUNS, async () => {
    const dir = join(WORK, 'tus-data');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const tus = await startTus(dir);
    try {
      const r = await timed(process.execPath, [
        '--import',
        'tsx',
        join(ROOT, 'bench/tus-upload.ts'),
        `${tus.url}/files`,
        FILE,
      ]);
      return r.ms / 1000;
    } finally {
      await tus.stop();
    }
  });
  compared(
    '#4',
    'upload end to end (hash + send + verify)',
    's',
    ourTime,
    tusTime,
    'tus-js-client → @tus/server',
    1,
    true,
    '≤ 1.0× tus time',
  );
  alone('#4', 'client peak RSS, upload', 'MB', stat(rss), 150);
}
