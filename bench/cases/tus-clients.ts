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
import { alone, beside, compared, FILE, LIB, RUNS, WORK } from '../context.js';
import { cpuSeconds, hashSeconds, interleave, MiB, type Stat, stat, timed } from '../measure.js';
import { ROOT, type Running, startOurs, startTus } from '../servers.js';

const CHUNK = 64 * MiB;

/** CPU seconds of the server and the client of each run, by contender. */
const cpu = new Map<string, number[]>();

async function onFreshServer(
  dir: string,
  start: (dir: string) => Promise<Running>,
  endpoint: string,
  protocol: string,
  name: string,
) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  execFileSync('sync');
  const server = await start(dir);
  try {
    const client = join(ROOT, 'bench/tus-upload.ts');
    const args = ['--import', 'tsx', client, `${server.url}${endpoint}`, FILE, protocol, String(CHUNK)];
    const before = await cpuSeconds(server.pid);
    const r = await timed(process.execPath, args);
    const used = (await cpuSeconds(server.pid)) - before + r.cpu;
    cpu.set(name, [...(cpu.get(name) ?? []), used]);
    return r.ms / 1000;
  } finally {
    await server.stop();
  }
}

export async function tusClients() {
  const ours = (protocol: string) => () =>
    onFreshServer(join(WORK, 'tus-ours'), (dir) => startOurs(dir, LIB), '/files/', protocol, protocol);
  const peer = () => onFreshServer(join(WORK, 'tus-peer'), startTus, '/files', 'tus-v1', 'peer');
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
  // The CPU each run used (server and client together) against @tus/server's, and what hashing
  // the file (which ours adds) costs one core at the least: on a machine of few cores, the time
  // ratio follows the CPU.
  const used = (name: string) => stat(cpu.get(name) ?? [0]);
  beside(
    '#19',
    'CPU used, server + client, tus-v1',
    'cpu s',
    used('tus-v1'),
    used('peer'),
    '@tus/server run',
  );
  alone(
    '#19',
    'MD5 + SHA-256 of the file on one core (what ours adds)',
    'cpu s',
    stat([await hashSeconds(FILE, ['md5', 'sha256'])]),
  );
}
