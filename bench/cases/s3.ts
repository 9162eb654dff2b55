import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { emptyPrefix, s3Endpoint, s3ServeArgs, s3Storage } from '../../test/helpers/s3.js';
import { CLI, FILE, LIB, missing, need, RUNS, rows, SIZE, WORK } from '../context.js';
import { MB, stat, timed } from '../measure.js';
import { startOurs } from '../servers.js';

/**
 * 1 GiB through the S3 backend (Ceph RGW, or $S3_ENDPOINT) vs the local-disk backend, same run,
 * with the client's default chunks (4 MiB: staged as chunk objects) and with 8 MiB chunks (≥ 5 MiB,
 * S3's smallest part: streamed straight into multipart parts, storage/s3/part-uploads.ts).
 */
export async function s3VsLocal() {
  for (const chunkSize of [undefined, '8MiB'] as const) await s3VsLocalWith(chunkSize);
}

async function s3VsLocalWith(chunkSize: string | undefined) {
  const ep = s3Endpoint();
  if (typeof ep === 'string') {
    missing.push(`S3 rows: ${ep}`);
    return;
  }
  if (!need('curl', 'curl')) return;
  const fileId = createHash('md5');
  for await (const b of (await import('node:fs')).createReadStream(FILE)) fileId.update(b as Buffer);
  const id = fileId.digest('hex');
  const times = {
    upLocal: [] as number[],
    upS3: [] as number[],
    downLocal: [] as number[],
    downS3: [] as number[],
  };
  for (let run = 0; run < RUNS; run++) {
    for (const kind of ['local', 's3'] as const) {
      const data = join(WORK, `s3-bench-${kind}`);
      await rm(data, { recursive: true, force: true });
      const prefix = `bench-${randomBytes(6).toString('hex')}/`;
      const extra = kind === 's3' ? s3ServeArgs(ep, prefix) : [];
      const server = await startOurs(data, LIB, extra);
      try {
        const cache = join(WORK, 'hash-cache-s3');
        await rm(cache, { recursive: true, force: true });
        const env = { ...process.env, RESUMABLE_CACHE_DIR: cache };
        const chunkArgs = chunkSize ? ['--chunk-size', chunkSize] : [];
        const up = await timed(
          process.execPath,
          [CLI, 'upload', '-q', '-s', server.url, ...chunkArgs, FILE],
          env,
        );
        const down = await timed('curl', ['-s', '-f', '-o', '/dev/null', `${server.url}/upload/${id}.bin`]);
        (kind === 's3' ? times.upS3 : times.upLocal).push(up.ms / 1000);
        (kind === 's3' ? times.downS3 : times.downLocal).push(SIZE / MB / (down.ms / 1000));
      } finally {
        await server.stop();
        if (kind === 's3') {
          const store = s3Storage(ep, prefix);
          await emptyPrefix(store);
          await store.close();
        }
      }
    }
  }
  const row = (measurement: string, unit: string, ours: number[], peer: number[]) => {
    const a = stat(ours);
    const b = stat(peer);
    rows.push({
      issue: '#7',
      measurement,
      unit,
      ours: a,
      peer: b,
      peerName: 'local disk',
      ratio: a.median / b.median,
      goal: 'figure only',
    });
  };
  const chunks = chunkSize ? `${chunkSize} chunks` : 'default chunks';
  row(
    `upload end to end through the S3 backend (Ceph RGW, memstore), ${chunks}`,
    's',
    times.upS3,
    times.upLocal,
  );
  if (!chunkSize)
    row('one-connection download from the S3 backend (curl)', 'MB/s', times.downS3, times.downLocal);
}
