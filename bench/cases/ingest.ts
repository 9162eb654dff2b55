import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { alone, FILE, LIB, RUNS, rows, SIZE, WORK } from '../context.js';
import { hashSeconds, MB, MiB, peakRss, repeat, stat } from '../measure.js';
import { startOurs } from '../servers.js';

/** A minimal raw-chunk client on node:http, so the client is not what limits the server figure. */
export async function ingest(
  url: string,
  path: string,
  chunkSize: number,
  concurrency: number,
  chunks: string[],
  fileId: string,
  /** The file's size, when the handshake declares its layout (size and chunkSize) as our clients do. */
  size?: number,
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
    JSON.stringify({
      fileId,
      ext: '.bin',
      chunkIds: chunks,
      ...(size === undefined ? {} : { size, chunkSize }),
    }),
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

export function hashChunks(path: string, chunkSize: number): Promise<{ fileId: string; chunks: string[] }> {
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

/**
 * Server ingest of 8 MiB chunks: with the layout declared in the handshake (size and chunkSize, as
 * our clients send: each chunk is written at its place in the upload's file, and the whole-file
 * MD5 and SHA-256 are folded by a worker thread as the chunks arrive), 4 and 32 at once; and with
 * the seed's handshake alone (what the course's client sends: chunks kept as files, copied into
 * the new file at assembly). Beside them, the floor verification sets on this machine: the chunks'
 * MD5, the file's MD5 and its SHA-256, one OpenSSL pass each, spread over every core, before a
 * byte is received or written.
 */
export async function serverIngest() {
  const chunkSize = 8 * MiB;
  const { fileId, chunks } = await hashChunks(FILE, chunkSize);
  const cases = [
    { concurrency: 4, layout: true },
    { concurrency: 32, layout: true },
    { concurrency: 4, layout: false },
  ];
  for (const { concurrency, layout } of cases) {
    const rss: number[] = [];
    const speed = await repeat(RUNS, async () => {
      const data = join(WORK, 'ingest-data');
      await rm(data, { recursive: true, force: true });
      const ours = await startOurs(data, LIB);
      try {
        const ms = await ingest(
          ours.url,
          FILE,
          chunkSize,
          concurrency,
          chunks,
          fileId,
          layout ? SIZE : undefined,
        );
        rss.push((await peakRss(ours.pid)) / MB);
        return SIZE / MB / (ms / 1000);
      } finally {
        await ours.stop();
      }
    });
    const goalRow = concurrency === 4 && layout;
    const how = layout ? 'layout declared' : "the seed's handshake, no layout";
    rows.push({
      issue: '#17',
      measurement: `server ingest with verification, 8 MiB chunks × ${concurrency} concurrent, ${how}`,
      unit: 'MB/s',
      ours: speed,
      peer: null,
      peerName: '—',
      ratio: null,
      goal: goalRow ? '≥ 600 MB/s' : 'figure only',
      ...(goalRow ? { note: speed.median >= 600 ? 'met' : 'NOT met' } : {}),
    });
    alone('#17', `server peak RSS, ${concurrency} concurrent chunks, ${how}`, 'MB', stat(rss), 200);
  }
  const hashing = (await hashSeconds(FILE, ['md5'])) * 2 + (await hashSeconds(FILE, ['sha256']));
  rows.push({
    issue: '#17',
    measurement: `verification's CPU floor: 2 MD5 passes + 1 SHA-256 pass over ${cpus().length} cores, nothing else`,
    unit: 'MB/s',
    ours: stat([SIZE / MB / (hashing / cpus().length)]),
    peer: null,
    peerName: '—',
    ratio: null,
    goal: 'figure only',
  });
}
