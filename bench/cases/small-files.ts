import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { upload } from '../../src/client/node/index.js';
import { alone, LIB, QUICK, RUNS, WORK } from '../context.js';
import { repeat } from '../measure.js';
import { startOurs } from '../servers.js';

export async function handshakeAndSmallFiles() {
  const data = join(WORK, 'small-data');
  await rm(data, { recursive: true, force: true });
  const ours = await startOurs(data, LIB);
  try {
    const ids = Array.from(
      { length: 100_000 },
      (_, i) => createHash('md5').update(`c${i}`).digest('hex') + i,
    );
    const latency = await repeat(RUNS, async () => {
      const fileId = createHash('md5').update(`plan${Math.random()}`).digest('hex');
      const t = performance.now();
      const res = await fetch(`${ours.url}/api/upload/handshake`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fileId, ext: '.bin', chunkIds: ids }),
      });
      await res.json();
      return performance.now() - t;
    });
    alone('#6', 'handshake with 100,000 chunk ids', 'ms', latency);
    const dir = join(WORK, 'small');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const count = QUICK ? 200 : 1000;
    for (let i = 0; i < count; i++)
      await writeFile(join(dir, `f${i}.bin`), `${i}:`.padEnd(4096, String(i % 10)));
    const names = await readdir(dir);
    const rate = await repeat(RUNS, async () => {
      const queue = [...names];
      const salt = Math.random().toString(36);
      const t = performance.now();
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let n = queue.shift(); n; n = queue.shift()) {
            const path = join(dir, n);
            await writeFile(path, `${salt}:${n}`.padEnd(4096, '.'));
            await upload(path, { server: ours.url, hashCache: false });
          }
        }),
      );
      return count / ((performance.now() - t) / 1000);
    });
    alone('#6', `${count} small files (4 KiB), concurrency 16`, 'files/s', rate);
  } finally {
    await ours.stop();
  }
}
