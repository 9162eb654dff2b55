/**
 * tus-js-client → our /files/ (tus-v1, and ietf-draft-05) vs tus-js-client → @tus/server with
 * its FileStore, same file, same chunk size, same run, in turns. Ours also folds the file's MD5
 * and SHA-256 as it arrives (one pass on a worker thread), fdatasyncs every PATCH before answering
 * it, and publishes the file for instant upload; @tus/server only stores it.
 * @tus/server speaks no IETF draft: the ietf-draft-05 row is compared with its tus-v1 time.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { compared, FILE, LIB, RUNS, WORK } from '../context.js';
import { interleave, MiB, type Stat, timed } from '../measure.js';
import { ROOT, type Running, startOurs, startTus } from '../servers.js';

const CHUNK = 64 * MiB;

async function onFreshServer(
  dir: string,
  start: (dir: string) => Promise<Running>,
  endpoint: string,
  protocol: string,
) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  execFileSync('sync');
  const server = await start(dir);
  try {
    const client = join(ROOT, 'bench/tus-upload.ts');
    const args = ['--import', 'tsx', client, `${server.url}${endpoint}`, FILE, protocol, String(CHUNK)];
    const r = await timed(process.execPath, args);
    return r.ms / 1000;
  } finally {
    await server.stop();
  }
}

export async function tusClients() {
  const ours = (protocol: string) => () =>
    onFreshServer(join(WORK, 'tus-ours'), (dir) => startOurs(dir, LIB), '/files/', protocol);
  const peer = () => onFreshServer(join(WORK, 'tus-peer'), startTus, '/files', 'tus-v1');
  const [tusV1, ietf, theirs] = (await interleave(RUNS, [ours('tus-v1'), ours('ietf-draft-05'), peer])) as [
    Stat,
    Stat,
    Stat,
  ];
  const goal = '≤ 1.0× @tus/server time';
  compared(
    '#19',
    'tus-js-client upload, tus-v1 (+ MD5 and SHA-256 folded)',
    's',
    tusV1,
    theirs,
    'tus-js-client → @tus/server FileStore',
    1,
    true,
    goal,
  );
  compared(
    '#19',
    'tus-js-client upload, ietf-draft-05 (+ MD5 and SHA-256 folded)',
    's',
    ietf,
    theirs,
    'tus-js-client → @tus/server FileStore (tus-v1)',
    1,
    true,
    goal,
  );
}
