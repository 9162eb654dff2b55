import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { alone, FILE, LIB, RUNS, rows, SIZE, WORK } from '../context.js';
import { MB, MiB, peakRss, repeat, stat } from '../measure.js';
import { startOurs } from '../servers.js';

/** A minimal raw-chunk client on node:http, so the client is not what limits the server figure. */
async function ingest(
  url: string,
  path: string,
  chunkSize: number,
  concurrency: number,
  chunks: string[],
  fileId: string,
) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (p: string, body: Buffer | string, type: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request(
        `${url}${p}`,
        { method: 'POST', agent, headers: { 'content-type': type } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            text += d;
          });
          res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(text))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  await post(
    '/api/upload/handshake',
    JSON.stringify({ fileId, ext: '.bin', chunkIds: chunks }),
    'application/json',
  );
  const fh = await open(path, 'r');
  const queue = chunks.map((_, i) => i);
  let finalUrl = '';
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const buf = Buffer.allocUnsafe(chunkSize);
        const { bytesRead } = await fh.read(buf, 0, chunkSize, i * chunkSize);
        const answer = JSON.parse(
          await post(
            `/api/upload?fileId=${fileId}&chunkId=${chunks[i]}`,
            buf.subarray(0, bytesRead),
            'application/octet-stream',
          ),
        ) as { url?: string };
        if (answer.url) finalUrl = answer.url;
      }
    }),
  );
  const ms = performance.now() - started;
  await fh.close();
  agent.destroy();
  if (!finalUrl) throw new Error('ingest did not complete');
  return ms;
}

function hashChunks(path: string, chunkSize: number): Promise<{ fileId: string; chunks: string[] }> {
  return (async () => {
    const fh = await open(path, 'r');
    const whole = createHash('md5');
    const chunks: string[] = [];
    const buf = Buffer.allocUnsafe(chunkSize);
    for (let i = 0; ; i++) {
      const { bytesRead } = await fh.read(buf, 0, chunkSize, i * chunkSize);
      if (bytesRead === 0) break;
      whole.update(buf.subarray(0, bytesRead));
      chunks.push(createHash('md5').update(buf.subarray(0, bytesRead)).digest('hex') + i);
    }
    await fh.close();
    return { fileId: whole.digest('hex'), chunks };
  })();
}

export async function serverIngest() {
  const chunkSize = 8 * MiB;
  const { fileId, chunks } = await hashChunks(FILE, chunkSize);
  for (const concurrency of [4, 32]) {
    const rss: number[] = [];
    const speed = await repeat(RUNS, async () => {
      const data = join(WORK, 'ingest-data');
      await rm(data, { recursive: true, force: true });
      const ours = await startOurs(data, LIB);
      try {
        const ms = await ingest(ours.url, FILE, chunkSize, concurrency, chunks, fileId);
        rss.push((await peakRss(ours.pid)) / MB);
        return SIZE / MB / (ms / 1000);
      } finally {
        await ours.stop();
      }
    });
    rows.push({
      issue: '#17',
      measurement: `server ingest with verification, 8 MiB chunks × ${concurrency} concurrent`,
      unit: 'MB/s',
      ours: speed,
      peer: null,
      peerName: '—',
      ratio: null,
      goal: concurrency === 4 ? '≥ 600 MB/s' : 'figure only',
      ...(concurrency === 4 ? { note: speed.median >= 600 ? 'met' : 'NOT met' } : {}),
    });
    alone('#17', `server peak RSS, ${concurrency} concurrent chunks`, 'MB', stat(rss), 200);
  }
}
