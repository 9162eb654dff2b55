import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Storage } from '../../src/storage/s3/s3.js';
import {
  abortMultipartUploads,
  emptyPrefix,
  type S3Endpoint,
  s3Endpoint,
  s3ServeArgs,
  s3Storage,
} from '../../test/helpers/s3.js';
import { alone, beside, CLI, compared, FILE, LIB, missing, need, RUNS, SIZE, WORK } from '../context.js';
import { MB, machineBusySeconds, peakRss, stat, timed } from '../measure.js';
import { ROOT, type Running, startOurs, startPlainProxy, startTusS3 } from '../servers.js';

/**
 * Issue #18: the file through the S3 backend (Ceph RGW, or $S3_ENDPOINT), in the same runs as
 * - tus-js-client → @tus/server + @tus/s3-store on the same bucket (8 MiB parts, its default);
 * - our local-disk backend;
 * - for the download, curl of a presigned GET of the published object straight from the gateway.
 * Our upload with the client's default chunks (on S3 the backend's preferred 8 MiB, ≥ S3's
 * smallest part: streamed straight into multipart parts, storage/s3/part-uploads.ts; 4 MiB on the
 * local disk) and with the course's 1 MiB chunks (staged as chunk objects, then assembled).
 * Every contender once per run, in turns.
 */
export async function s3VsLocal() {
  const ep = s3Endpoint();
  if (typeof ep === 'string') {
    missing.push(`S3 rows: ${ep}`);
    return;
  }
  if (!need('curl', 'curl')) return;
  const md5 = createHash('md5');
  for await (const b of createReadStream(FILE)) md5.update(b as Buffer);
  const id = md5.digest('hex');
  const variants = [undefined, '1MiB'].map((chunkSize) => ({
    chunkSize,
    upLocal: [] as number[],
    upS3: [] as number[],
    cpuS3: [] as number[],
    rssS3: [] as number[],
  }));
  const down = {
    local: [] as number[],
    s3: [] as number[],
    gateway: [] as number[],
    redirect: [] as number[],
    plainProxy: [] as number[],
  };
  const tus: number[] = [];
  const tusCpu: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    for (const v of variants) {
      for (const kind of ['local', 's3'] as const) {
        const r = await ours(ep, kind, v.chunkSize, id, !v.chunkSize);
        (kind === 's3' ? v.upS3 : v.upLocal).push(r.up);
        if (kind === 's3') {
          v.rssS3.push(r.rss);
          v.cpuS3.push(r.cpu);
        }
        if (r.down !== undefined) down[kind].push(r.down);
        if (r.gateway !== undefined) down.gateway.push(r.gateway);
        if (r.redirect !== undefined) down.redirect.push(r.redirect);
        if (r.plainProxy !== undefined) down.plainProxy.push(r.plainProxy);
      }
    }
    const t = await tusS3(ep);
    tus.push(t.up);
    tusCpu.push(t.cpu);
  }
  const tusName = 'tus-js-client → @tus/server + @tus/s3-store (8 MiB parts)';
  for (const v of variants) {
    const chunks = v.chunkSize ? `${v.chunkSize} chunks` : 'default chunks';
    const upS3 = stat(v.upS3);
    const what = `upload end to end through the S3 backend (Ceph RGW, memstore), ${chunks}`;
    compared('#18', what, 's', upS3, stat(tus), tusName, 1, true, '≤ 1.0× tus time');
    compared(
      '#18',
      what,
      's',
      upS3,
      stat(v.upLocal),
      'our local-disk upload',
      1.5,
      true,
      '≤ 1.5× local disk',
    );
    alone('#18', `server peak RSS, upload through the S3 backend, ${chunks}`, 'MB', stat(v.rssS3), 200);
    // Client, server and store share this machine's cores: when they are all busy, the time
    // follows the CPU the upload costs on the whole machine.
    beside(
      '#18',
      `CPU used on the machine (client, server, store), upload through the S3 backend, ${chunks}`,
      'cpu s',
      stat(v.cpuS3),
      stat(tusCpu),
      'the tus + @tus/s3-store upload',
    );
  }
  const s3Down = stat(down.s3);
  const what = 'one-connection download from the S3 backend (curl)';
  compared(
    '#18',
    what,
    'MB/s',
    s3Down,
    stat(down.gateway),
    'curl of a presigned GET',
    0.8,
    false,
    '≥ 0.8× gateway',
  );
  beside('#18', what, 'MB/s', s3Down, stat(down.local), 'our local-disk download');
  // What passing every byte through one Node process costs here, whatever the process does.
  beside('#18', what, 'MB/s', s3Down, stat(down.plainProxy), 'a plain Node proxy of the presigned GET');
  compared(
    '#18',
    'one-connection download with --s3-redirect (curl -L: a 302 to a presigned URL, the store serves)',
    'MB/s',
    stat(down.redirect),
    stat(down.gateway),
    'curl of a presigned GET',
    0.8,
    false,
    '≥ 0.8× gateway',
  );
}

interface OursRun {
  /** Upload seconds. */
  up: number;
  /** CPU seconds of the whole machine during the upload. */
  cpu: number;
  /** The server's peak RSS after the upload, MB. */
  rss: number;
  /** Download MB/s through our server, then (S3) straight from the gateway. */
  down?: number;
  gateway?: number;
  /** (S3) Through our server under --s3-redirect (curl -L), and through a plain Node proxy. */
  redirect?: number;
  plainProxy?: number;
}

/** Our CLI uploading the file to a fresh server on `kind` storage; then the downloads if asked. */
async function ours(
  ep: S3Endpoint,
  kind: 'local' | 's3',
  chunkSize: string | undefined,
  id: string,
  download: boolean,
): Promise<OursRun> {
  const data = join(WORK, `s3-bench-${kind}`);
  await rm(data, { recursive: true, force: true });
  const prefix = `bench-${randomBytes(6).toString('hex')}/`;
  const server = await startOurs(data, LIB, kind === 's3' ? s3ServeArgs(ep, prefix) : []);
  const store = kind === 's3' ? s3Storage(ep, prefix) : undefined;
  try {
    const cache = join(WORK, 'hash-cache-s3');
    await rm(cache, { recursive: true, force: true });
    const env = { ...process.env, RESUMABLE_CACHE_DIR: cache };
    const chunkArgs = chunkSize ? ['--chunk-size', chunkSize] : [];
    const busy = await machineBusySeconds();
    const up = await timed(
      process.execPath,
      [CLI, 'upload', '-q', '-s', server.url, ...chunkArgs, FILE],
      env,
    );
    const cpu = (await machineBusySeconds()) - busy;
    const r: OursRun = { up: up.ms / 1000, cpu, rss: (await peakRss(server.pid)) / MB };
    if (!download) return r;
    r.down = await curlMBps(`${server.url}/upload/${id}.bin`);
    if (!store) return r;
    const presigned = await presignedGet(store, (await onlyObject(store, 'files/')).Key);
    r.gateway = await curlMBps(presigned);
    r.redirect = await withServer(
      startOurs(data, LIB, [...s3ServeArgs(ep, prefix), '--s3-redirect']),
      (url) => curlMBps(`${url}/upload/${id}.bin`, ['-L']),
    );
    r.plainProxy = await withServer(startPlainProxy(presigned), (url) => curlMBps(url));
    return r;
  } finally {
    await server.stop();
    if (store) await clean(store);
  }
}

/**
 * tus-js-client uploading the file to @tus/server + @tus/s3-store: seconds, and CPU seconds of the
 * whole machine meanwhile (client, server and store).
 */
async function tusS3(ep: S3Endpoint): Promise<{ up: number; cpu: number }> {
  const store = s3Storage(ep, `bench-tus-${randomBytes(6).toString('hex')}/`);
  const server = await startTusS3(ep, store.prefix);
  try {
    const client = join(ROOT, 'bench/tus-upload.ts');
    const busy = await machineBusySeconds();
    const r = await timed(process.execPath, ['--import', 'tsx', client, `${server.url}/files`, FILE]);
    const cpu = (await machineBusySeconds()) - busy;
    // The file itself (beside its `.info`), whole: a figure for an upload that did not finish
    // would flatter the peer.
    const file = await onlyObject(store, '', (k) => !k.endsWith('.info'));
    if (file.Size !== SIZE) throw new Error(`tus peer: ${file.Key} holds ${file.Size} bytes, not ${SIZE}`);
    return { up: r.ms / 1000, cpu };
  } finally {
    await server.stop();
    await clean(store);
  }
}

async function curlMBps(url: string, extra: string[] = []): Promise<number> {
  const r = await timed('curl', ['-s', '-f', ...extra, '-o', '/dev/null', url]);
  return SIZE / MB / (r.ms / 1000);
}

async function withServer<T>(starting: Promise<Running>, fn: (url: string) => Promise<T>): Promise<T> {
  const server = await starting;
  try {
    return await fn(server.url);
  } finally {
    await server.stop();
  }
}

/** The one object under the storage's prefix + `under` (whose key `keep` accepts); throws if not one. */
async function onlyObject(s: S3Storage, under: string, keep = (_key: string) => true) {
  const page = await s.client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: s.prefix + under }));
  const found = (page.Contents ?? []).filter((o) => o.Key && keep(o.Key));
  if (found.length !== 1)
    throw new Error(`expected one object under ${s.prefix}${under}, found ${found.length}`);
  return found[0]! as { Key: string; Size?: number };
}

function presignedGet(s: S3Storage, key: string): Promise<string> {
  return getSignedUrl(s.client, new GetObjectCommand({ Bucket: s.bucket, Key: key }), { expiresIn: 3600 });
}

/** Removes every object and unfinished multipart upload under the storage's prefix. */
async function clean(s: S3Storage): Promise<void> {
  await abortMultipartUploads(s);
  await emptyPrefix(s);
  await s.close();
}
