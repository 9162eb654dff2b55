/**
 * npm run bench [-- --quick] [-- --runs N] [-- --size 1GiB]
 * Every measurement next to its peer in the same run, on this machine: a table on stdout, JSON and
 * an SVG chart in bench/results/. Peers missing from the machine are named with their apt-get line
 * and their rows skipped, never faked.
 */

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { upload } from '../src/client/node/index.js';
import { emptyPrefix, s3Endpoint, s3Storage } from '../test/helpers/s3.js';
import { browserHashing } from './browser-hash.js';
import { hasCommand, MB, MiB, peakRss, repeat, type Stat, stat, timed } from './measure.js';
import { machine, type Row, renderTable, writeResults } from './report.js';
import { ROOT, startNginx, startOurs, startTus } from './servers.js';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, runs: { type: 'string' }, size: { type: 'string' } },
});
const QUICK = args.quick ?? false;
const RUNS = Number(args.runs ?? (QUICK ? 1 : 3));
const SIZE = args.size ? Number(args.size) : QUICK ? 64 * MiB : 1024 * MiB;
const WORK = join(ROOT, 'bench', 'work');
const LIB = join(WORK, 'lib');
const FILE = join(LIB, 'bench.bin');
const CLI = join(ROOT, 'dist/cli/main.js');
const rows: Row[] = [];
const missing: string[] = [];

/** A row compared with a peer; `lowerIsBetter` for times, else higher is better. */
function compared(
  issue: string,
  measurement: string,
  unit: string,
  ours: Stat,
  peer: Stat,
  peerName: string,
  limit: number,
  lowerIsBetter: boolean,
  goal: string,
) {
  const ratio = ours.median / peer.median;
  const met = lowerIsBetter ? ratio <= limit : ratio >= limit;
  rows.push({ issue, measurement, unit, ours, peer, peerName, ratio, goal, note: met ? 'met' : 'NOT met' });
}

/** A figure of ours alone; with `maxMb`, a memory goal checked against the worst run. */
function alone(issue: string, measurement: string, unit: string, ours: Stat, maxMb?: number) {
  const goal = maxMb === undefined ? 'figure only' : `under ${maxMb} MB`;
  const note = maxMb === undefined ? undefined : ours.max < maxMb ? 'met' : 'NOT met';
  rows.push({
    issue,
    measurement,
    unit,
    ours,
    peer: null,
    peerName: '—',
    ratio: null,
    goal,
    ...(note ? { note } : {}),
  });
}

function need(cmd: string, apt: string): boolean {
  if (hasCommand(cmd)) return true;
  missing.push(`${cmd}: apt-get install -y ${apt}`);
  return false;
}

function log(msg: string) {
  process.stderr.write(`bench: ${msg}\n`);
}

async function makeFile(path: string, size: number) {
  const fh = await open(path, 'w');
  const block = Buffer.alloc(8 * MiB);
  let seed = 12345;
  for (let done = 0; done < size; done += block.length) {
    for (let i = 0; i < block.length; i += 4) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      block.writeUInt32LE(seed, i);
    }
    await fh.write(block, 0, Math.min(block.length, size - done));
  }
  await fh.close();
}

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

async function serverIngest() {
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
    alone('#2', `server ingest, 8 MiB chunks × ${concurrency} concurrent`, 'MB/s', speed);
    alone('#2', `server peak RSS, ${concurrency} concurrent chunks`, 'MB', stat(rss), 200);
  }
}

async function downloads() {
  if (!need('nginx', 'nginx-light') || !need('curl', 'curl')) return;
  const ours = await startOurs(join(WORK, 'dl-data'), LIB);
  const nginx = await startNginx(join(WORK, 'nginx'), LIB);
  try {
    const curl = async (url: string) => {
      const r = await timed('curl', ['-s', '-f', '-o', '/dev/null', url]);
      return SIZE / MB / (r.ms / 1000);
    };
    const o = await repeat(RUNS, () => curl(`${ours.url}/download/bench.bin`));
    const n = await repeat(RUNS, () => curl(`${nginx.url}/bench.bin`));
    compared(
      '#3',
      'one-connection download (curl → /dev/null)',
      'MB/s',
      o,
      n,
      'nginx sendfile',
      0.8,
      false,
      '≥ 0.8× nginx',
    );
    if (need('wrk', 'wrk')) {
      const script = join(WORK, 'ranges.lua');
      await writeFile(
        script,
        `math.randomseed(42)\nrequest = function()\n  local s = math.random(0, ${SIZE - 65536})\n  return wrk.format("GET", nil, { Range = "bytes=" .. s .. "-" .. (s + 65535) })\nend\n`,
      );
      const wrk = async (url: string) => {
        const out = execFileSync('wrk', ['-t2', '-c32', `-d${QUICK ? 3 : 8}s`, '-s', script, url], {
          encoding: 'utf8',
        });
        return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
      };
      const wo = await repeat(RUNS, () => wrk(`${ours.url}/download/bench.bin`));
      const wn = await repeat(RUNS, () => wrk(`${nginx.url}/bench.bin`));
      compared(
        '#3',
        'random 64 KiB ranges, 32 connections (wrk)',
        'req/s',
        wo,
        wn,
        'nginx sendfile',
        0.5,
        false,
        '≥ 0.5× nginx',
      );
    }
    if (need('aria2c', 'aria2')) {
      const out = join(WORK, 'dl-out');
      const rssOurs: number[] = [];
      const ourTime = await repeat(RUNS, async () => {
        await rm(out, { recursive: true, force: true });
        await mkdir(out, { recursive: true });
        const r = await timed(process.execPath, [
          CLI,
          'download',
          '-q',
          '-c',
          '8',
          '-o',
          out,
          `${nginx.url}/bench.bin`,
        ]);
        rssOurs.push(r.peakRss / MB);
        return r.ms / 1000;
      });
      const ariaTime = await repeat(RUNS, async () => {
        await rm(out, { recursive: true, force: true });
        await mkdir(out, { recursive: true });
        const r = await timed('aria2c', [
          '-q',
          '-x8',
          '-s8',
          '--allow-overwrite=true',
          '-d',
          out,
          '-o',
          'bench.bin',
          `${nginx.url}/bench.bin`,
        ]);
        return r.ms / 1000;
      });
      await rm(out, { recursive: true, force: true });
      compared(
        '#4',
        'segmented download to disk, 8 connections (from nginx)',
        's',
        ourTime,
        ariaTime,
        'aria2c -x8 -s8',
        0.6,
        true,
        '≤ 0.6× aria2 time',
      );
      alone('#4', 'client peak RSS, download', 'MB', stat(rssOurs), 150);
    }
  } finally {
    await ours.stop();
    await nginx.stop();
  }
}

async function uploadVsTus() {
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

async function handshakeAndSmallFiles() {
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

async function browserHash() {
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
    measurement: `browser hashing ${size / MiB} MiB: ours (file + chunk MD5s, workers) vs spark-md5 (file MD5)`,
    unit: 'MB/s',
    ours: a,
    peer: b,
    peerName: 'spark-md5',
    ratio: a.median / b.median,
    goal: 'ours ≥ 400 MB/s',
    note: a.median >= 400 ? 'met' : 'NOT met',
  });
}

/** 1 GiB through the S3 backend (Ceph RGW, or $S3_ENDPOINT) vs the local-disk backend, same run. */
async function s3VsLocal() {
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
      const extra =
        kind === 's3'
          ? [
              ...[
                '--storage',
                's3',
                '--s3-endpoint',
                ep.endpoint,
                '--s3-bucket',
                ep.bucket,
                '--s3-prefix',
                prefix,
              ],
              ...['--s3-access-key', ep.accessKeyId, '--s3-secret-key', ep.secretAccessKey],
            ]
          : [];
      const server = await startOurs(data, LIB, extra);
      try {
        const cache = join(WORK, 'hash-cache-s3');
        await rm(cache, { recursive: true, force: true });
        const env = { ...process.env, RESUMABLE_CACHE_DIR: cache };
        const up = await timed(process.execPath, [CLI, 'upload', '-q', '-s', server.url, FILE], env);
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
  row('upload end to end through the S3 backend (Ceph RGW, memstore)', 's', times.upS3, times.upLocal);
  row('one-connection download from the S3 backend (curl)', 'MB/s', times.downS3, times.downLocal);
}

async function main() {
  await mkdir(LIB, { recursive: true });
  log(`machine: ${machine()}; file ${SIZE / MiB} MiB; ${RUNS} run(s) per figure`);
  log('writing the test file');
  await makeFile(FILE, SIZE);
  const cases: [string, () => Promise<void>][] = [
    ['server ingest', serverIngest],
    ['downloads vs nginx and aria2', downloads],
    ['upload vs tus', uploadVsTus],
    ['handshake and small files', handshakeAndSmallFiles],
    ['browser hashing', browserHash],
    ['S3 backend vs local disk', s3VsLocal],
  ];
  for (const [name, fn] of cases) {
    log(name);
    await fn();
  }
  const date = new Date().toISOString();
  process.stdout.write(
    `\nresumable-transfer bench — ${date}\n${machine()}; ${SIZE / MiB} MiB file; median of ${RUNS} (min–max)\n\n`,
  );
  process.stdout.write(renderTable(rows));
  if (missing.length) process.stdout.write(`\nskipped (missing tools): ${missing.join('; ')}\n`);
  const dir = await writeResults(rows, { date, machine: machine(), sizeBytes: SIZE, runs: RUNS, missing });
  process.stdout.write(`\nresults: ${dir}/latest.{json,md,svg}\n`);
  await rm(WORK, { recursive: true, force: true });
}

await main();
