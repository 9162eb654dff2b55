import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { browserHashing } from '../browser-hash.js';
import { makeFile, need, QUICK, RUNS, rows, WORK } from '../context.js';
import { MiB, stat } from '../measure.js';

export async function browserHash() {
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!need(chromium, 'chromium')) return;
  const size = QUICK ? 64 * MiB : 512 * MiB;
  const file = join(WORK, 'browser-hash.bin');
  await makeFile(file, size);
  const { ours, spark } = await browserHashing(join(WORK, 'browser'), file, size, RUNS);
  await rm(file, { force: true });
  const a = stat(ours);
  const b = stat(spark);
  rows.push({
    issue: '#5',
    measurement: `browser hashing ${size / MiB} MiB: ours (file + chunk MD5s and the SHA-256, two workers) vs spark-md5 (file MD5)`,
    unit: 'MB/s',
    ours: a,
    peer: b,
    peerName: 'spark-md5',
    ratio: a.median / b.median,
    goal: 'ours ≥ 400 MB/s',
    note: a.median >= 400 ? 'met' : 'NOT met',
  });
}
