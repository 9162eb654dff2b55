/**
 * npm run bench [-- --quick] [-- --runs N] [-- --size 1GiB] [-- --only 'upload vs tus'] [-- --durability chunk]
 * RT_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' npm run bench …: Node options for our server
 * (it is then stopped with SIGTERM, so that a profile is written).
 * Every measurement next to its peer in the same run, on this machine: a table on stdout, JSON and
 * an SVG chart in bench/results/. Peers missing from the machine are named with their apt-get line
 * and their rows skipped, never faked.
 */

import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { underAttack } from './cases/attack.js';
import { browserHash } from './cases/browser.js';
import { downloads } from './cases/downloads.js';
import { serverIngest } from './cases/ingest.js';
import { pageVsUppy } from './cases/page-vs-uppy.js';
import { s3VsLocal } from './cases/s3.js';
import { handshakeAndSmallFiles } from './cases/small-files.js';
import { tusClients } from './cases/tus-clients.js';
import { uploadVsTus } from './cases/upload-vs-tus.js';
import { DURABILITY, FILE, LIB, log, makeFile, missing, ONLY, RUNS, rows, SIZE, WORK } from './context.js';
import { MiB } from './measure.js';
import { machine, renderTable, writeResults } from './report.js';

async function main() {
  await mkdir(LIB, { recursive: true });
  log(`machine: ${machine()}; file ${SIZE / MiB} MiB; ${RUNS} run(s) per figure; --durability ${DURABILITY}`);
  log('writing the test file');
  await makeFile(FILE, SIZE);
  const cases: [string, () => Promise<void>][] = [
    ['server ingest', serverIngest],
    ['downloads vs nginx and aria2', downloads],
    ['upload vs tus', uploadVsTus],
    ['tus clients', tusClients],
    ['handshake and small files', handshakeAndSmallFiles],
    ['browser hashing', browserHash],
    ['page vs uppy', pageVsUppy],
    ['S3 backend vs local disk', s3VsLocal],
    ['under attack', underAttack],
  ];
  for (const [name, fn] of cases) {
    if (ONLY && !name.includes(ONLY)) continue;
    log(name);
    // Each case starts with nothing left to write back from the one before (tus, for one, never
    // syncs): write-back running under a measurement takes its CPU.
    execFileSync('sync');
    await fn();
  }
  const date = new Date().toISOString();
  process.stdout.write(
    `\nresumable-transfer bench — ${date}\n${machine()}; ${SIZE / MiB} MiB file; median of ${RUNS} (min–max); --durability ${DURABILITY}\n\n`,
  );
  process.stdout.write(renderTable(rows));
  if (missing.length) process.stdout.write(`\nskipped (missing tools): ${missing.join('; ')}\n`);
  if (!ONLY) {
    const dir = await writeResults(rows, { date, machine: machine(), sizeBytes: SIZE, runs: RUNS, missing });
    process.stdout.write(`\nresults: ${dir}/latest.{json,md,svg}\n`);
  }
  await rm(WORK, { recursive: true, force: true });
}

await main();
