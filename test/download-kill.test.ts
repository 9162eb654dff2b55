/**
 * What a kill -9 and a machine crash cost `resumable download` (issue 17, the download side):
 * progress is recorded every second without fsync (`<dest>.part.fast.json`, with the boot id)
 * and made durable every few seconds (`<dest>.part.json`). A killed process loses about a second
 * of transfer; after a crash (another boot id) only the durable record is trusted. Real server on
 * port 0 behind a throttling proxy that counts the bytes on the wire, real CLI processes, killed
 * at a number of bytes seen rather than at a time.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { md5File, writeRandomFile } from './helpers/bytes.js';
import { runCli } from './helpers/cli.js';
import { type FlakyProxy, startProxy } from './helpers/flaky-proxy.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const MiB = 1024 * 1024;
/** Per connection; 4 connections: 2 MiB/s in all, so a second of transfer is 2 MiB. */
const RATE = 512 * 1024;
const CONNECTIONS = 4;
const SECOND_OF_TRANSFER = RATE * CONNECTIONS;
/** Generous bounds on waits: the CI machine is loaded. */
const WAIT_MS = 120_000;

const noBootId = await readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
  () => false,
  () => 'no /proc/sys/kernel/random/boot_id here: only the durable record is kept',
);

interface Record {
  url: string;
  bootId?: string;
  segments: { start: number; end: number; next: number }[];
}

async function record(path: string): Promise<Record | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record;
  } catch {
    return undefined;
  }
}

const claimed = (r: Record | undefined) => r?.segments.reduce((n, g) => n + g.next - g.start, 0) ?? 0;

/** Waits (bounded) until `ready` says yes. */
async function until(what: string, ready: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await ready())) {
    if (Date.now() > deadline) assert.fail(`gave up waiting: ${what}`);
    await sleep(20);
  }
}

let srv: TestServer;
let work: string;
let lib: string;
let proxy: FlakyProxy;

before(async () => {
  work = await tempDir('rt-dl-kill-');
  lib = join(work, 'lib');
  srv = await startTestServer({ libraryDirs: [lib] });
  proxy = await startProxy(srv.url);
});
after(async () => {
  await proxy.close();
  await srv.close();
  await rm(work, { recursive: true, force: true });
});

/** Starts a throttled download; returns its process once `ready` holds, then kills it with SIGKILL. */
async function killDuring(name: string, ready: () => Promise<boolean> | boolean, extra: string[] = []) {
  proxy.options.rate = RATE;
  proxy.down = 0;
  const dest = join(work, `${name}.out`);
  const args = [
    'download',
    '-q',
    '-c',
    String(CONNECTIONS),
    ...extra,
    '-o',
    dest,
    `${proxy.url}/download/${name}`,
  ];
  const run = runCli(work, args);
  let exited = false;
  void run.done.then(() => {
    exited = true;
  });
  try {
    await until('the download to get that far', async () => {
      if (exited) assert.fail(`the first run ended before it was killed: ${(await run.done).stderr}`);
      return ready();
    });
    const wireAtKill = proxy.down;
    run.proc.kill('SIGKILL');
    await run.done;
    return { dest, args, wireAtKill };
  } finally {
    run.proc.kill('SIGKILL');
  }
}

/** Runs the same command again at full speed: its result and the bytes it took off the wire. */
async function resume(args: string[]) {
  proxy.options.rate = 0;
  proxy.down = 0;
  const r = await runCli(work, args).done;
  assert.equal(r.code, 0, r.stderr);
  return proxy.down;
}

describe('a killed download', { skip: noBootId }, () => {
  it('kill -9 about 2–3 s in: run again, it fetches the rest and about one second more', async () => {
    const size = 16 * MiB; // 1 MiB segments with 4 connections
    const segment = MiB;
    const sum = await writeRandomFile(join(lib, 'kill.bin'), size, 171);
    // 6 MiB seen at 2 MiB/s: about 3 s in, before the first durable checkpoint after the start
    // (5 s), which is all the old code had to resume from.
    const { dest, args, wireAtKill } = await killDuring('kill.bin', () => proxy.down >= 6 * MiB);
    const fast = await record(`${dest}.part.fast.json`);
    assert.ok(fast?.bootId, 'the frequent record is there, with the boot id');
    const fetched = await resume(args);
    assert.equal(await md5File(dest), sum, 'byte-exact');
    assert.ok(fetched < size, `fetched ${fetched} of ${size} again: not the whole file`);
    const missing = size - wireAtKill;
    assert.ok(
      fetched <= missing + SECOND_OF_TRANSFER + segment,
      `fetched ${fetched} again; ${missing} had not been seen on the wire at the kill`,
    );
    for (const p of ['.part', '.part.json', '.part.fast.json'])
      await assert.rejects(readFile(`${dest}${p}`), `${p} is removed`);
  });

  it('a machine crash (another boot id, the unsynced bytes lost): only the durable record is trusted', async () => {
    const size = 24 * MiB;
    const sum = await writeRandomFile(join(lib, 'crash.bin'), size, 172);
    let durable: Record | undefined;
    let fast: Record | undefined;
    // Killed once the frequent record is at least 1 MiB ahead of a durable one that holds bytes.
    const { dest, args } = await killDuring('crash.bin', async () => {
      durable = await record(`${join(work, 'crash.bin.out')}.part.json`);
      fast = await record(`${join(work, 'crash.bin.out')}.part.fast.json`);
      return claimed(durable) >= 2 * MiB && claimed(fast) >= claimed(durable) + MiB;
    });
    // What was read just before the kill may have moved on since: read both records again.
    durable = await record(`${dest}.part.json`);
    fast = await record(`${dest}.part.fast.json`);
    assert.ok(durable && fast && claimed(fast) > claimed(durable), 'the frequent record is ahead');
    // The crash: a new boot, and the bytes only the frequent record claims never reached the disk.
    await writeFile(`${dest}.part.fast.json`, JSON.stringify({ ...fast, bootId: randomUUID() }));
    const fh = await open(`${dest}.part`, 'r+');
    try {
      for (const [i, g] of durable.segments.entries()) {
        const until = fast.segments[i]?.next ?? g.next;
        if (until > g.next) await fh.write(Buffer.alloc(until - g.next, 0xee), 0, until - g.next, g.next);
      }
    } finally {
      await fh.close();
    }
    const fetched = await resume(args);
    assert.equal(await md5File(dest), sum, 'byte-exact: the damaged bytes were fetched again');
    const missing = size - claimed(durable);
    assert.ok(fetched >= missing, `fetched ${fetched}: everything the durable record lacks (${missing})`);
    assert.ok(fetched < size, `fetched ${fetched} of ${size}: the durable part was kept`);
  });
});

describe('a download without sync (--no-sync: nothing fsynced, as aria2)', { skip: noBootId }, () => {
  it('killed, it resumes from its records; after a machine crash it starts over, byte-exact', async () => {
    const size = 16 * MiB;
    const sum = await writeRandomFile(join(lib, 'nosync.bin'), size, 173);
    const dest = join(work, 'nosync.bin.out');
    // Killed once its durable record (written unsynced, with the boot id) holds bytes.
    const { args } = await killDuring(
      'nosync.bin',
      async () => claimed(await record(`${dest}.part.json`)) >= 2 * MiB,
      ['--no-sync'],
    );
    const durable = await record(`${dest}.part.json`);
    assert.ok(durable?.bootId, 'the unsynced durable record carries the boot id');
    // Kept for the crash case below: the records and the partial file as the kill left them.
    const saved = await Promise.all(
      ['.part', '.part.json', '.part.fast.json'].map((p) => readFile(`${dest}${p}`).catch(() => undefined)),
    );
    const fetched = await resume(args);
    assert.equal(await md5File(dest), sum, 'byte-exact');
    assert.ok(fetched < size, `a killed download resumed: fetched ${fetched} of ${size} again`);

    // The same state after a crash of the machine: another boot id in both records.
    for (const [i, p] of ['.part', '.part.json', '.part.fast.json'].entries()) {
      const bytes = saved[i];
      if (!bytes) continue;
      if (p === '.part') await writeFile(`${dest}${p}`, bytes);
      else {
        const r = JSON.parse(bytes.toString('utf8')) as Record;
        await writeFile(`${dest}${p}`, JSON.stringify({ ...r, bootId: randomUUID() }));
      }
    }
    await rm(dest, { force: true });
    const again = await resume(args);
    assert.equal(await md5File(dest), sum, 'byte-exact');
    assert.ok(
      again >= size,
      `after a crash nothing unsynced is trusted: fetched ${again}, the whole ${size} again`,
    );
  });
});
