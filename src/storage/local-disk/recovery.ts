/**
 * What a start does after a group-mode process stopped uncleanly (durability.ts decides which).
 *
 * After a crash of the machine (another boot id), writes acknowledged since the last group sync
 * may be lost, torn or zeroed. Which ones is not tracked: the syncer's list of paths lived in
 * memory, and a file's mtime says nothing reliable after a crash. So every held chunk of every
 * incomplete upload is read back and its MD5 checked against its id; a chunk that fails is
 * forgotten, so the next handshake asks for it again. That reads at most what incomplete uploads
 * hold (bounded by --max-incomplete-bytes), once, after a crash of the machine only. Plans that no
 * longer parse are removed (the client's next handshake writes them again). A stream upload
 * (tus, IETF) rolls back to its durable record (state.durable.json: written by the syncer after
 * the bytes it counts were synced), and its client resumes from that offset after its HEAD.
 *
 * After a crash of the process only, the page cache still holds every write: settleUploads fsyncs
 * everything under uploads/, since no syncer tracks those writes any more.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errno, fsyncDir, writeFileAtomic } from '../../io/fs-util.js';
import { chunkCount, chunkLength } from '../../protocol/chunk-layout.js';
import { isFileKey, isMd5Hex } from '../../protocol/ids.js';
import { isStreamId } from '../stream-store.js';
import { readRegion } from './chunk-regions.js';
import type { DiskLayout } from './layout.js';
import { parseRegionLog, readRegionLog } from './region-log.js';

/** Re-verifies every incomplete upload; resolves with how many things it forgot. */
export async function recoverAfterMachineCrash(layout: DiskLayout): Promise<number> {
  let dropped = 0;
  for (const id of await names(layout.uploads)) {
    if (isFileKey(id)) dropped += await recoverUpload(layout, id);
  }
  for (const id of await names(layout.streamsDir)) {
    if (isStreamId(id)) dropped += await recoverStream(layout, id);
  }
  return dropped;
}

async function recoverUpload(layout: DiskLayout, fileId: string): Promise<number> {
  let dropped = 0;
  // Plans: a torn one is as if never written.
  const plans = [layout.planPath(fileId)];
  for (const name of await names(layout.sessionsDir(fileId))) {
    if (name.endsWith('.json')) plans.push(join(layout.sessionsDir(fileId), name));
  }
  for (const path of plans) {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined || parses(text)) continue;
    await rm(path, { force: true });
    dropped++;
  }
  // Plain chunks: named by their MD5.
  for (const name of await names(layout.chunksDir(fileId))) {
    const path = layout.chunkPath(fileId, name);
    if (!isMd5Hex(name) || (await md5OfFile(path)) === name) continue;
    await rm(path, { force: true });
    dropped++;
  }
  dropped += await recoverRegions(layout, fileId);
  await fsyncDir(layout.chunksDir(fileId)).catch(() => undefined);
  await fsyncDir(layout.sessionsDir(fileId)).catch(() => undefined);
  await fsyncDir(layout.uploadDir(fileId)).catch(() => undefined);
  return dropped;
}

/** Keeps the regions whose bytes still have the MD5 their line records; the log is rewritten. */
async function recoverRegions(layout: DiskLayout, fileId: string): Promise<number> {
  const files = layout.regionFiles(fileId);
  const text = await readRegionLog(files);
  if (text === undefined) return 0;
  const contents = parseRegionLog(text);
  if (!contents || !(contents.chunkSize > 0)) {
    await rm(files.log, { force: true });
    await rm(files.data, { force: true });
    return 1;
  }
  const { size, chunkSize } = contents;
  const count = chunkCount(size, chunkSize);
  const recorded = new Map<number, string>();
  for (const [index, md5] of contents.records) if (index < count) recorded.set(index, md5);
  const kept = new Map<number, string>();
  const fh = await open(files.data, 'r').catch(() => undefined);
  try {
    for (const [index, md5] of recorded) {
      if (!fh) break;
      const hash = createHash('md5');
      try {
        const length = chunkLength(size, chunkSize, index);
        for await (const buf of readRegion(fh, index * chunkSize, length)) hash.update(buf);
      } catch {
        continue; // the data file ends before the region does
      }
      if (hash.digest('hex') === md5) kept.set(index, md5);
    }
  } finally {
    await fh?.close();
  }
  const records = [...kept].map(([i, m]) => `${i} ${m}\n`).join('');
  await writeFileAtomic(files.log, files.tmp, `layout ${size} ${chunkSize}\n${records}`);
  return recorded.size - kept.size;
}

/** A stream upload goes back to its durable record, or goes if it has none that holds. */
async function recoverStream(layout: DiskLayout, id: string): Promise<number> {
  const durable = await readFile(layout.streamDurablePath(id), 'utf8').catch(() => undefined);
  const current = await readFile(layout.streamStatePath(id), 'utf8').catch(() => undefined);
  // No durable copy: written in chunk mode only, where state.json is durable.
  const text = durable ?? current;
  const record = text === undefined ? undefined : parseRecord(text);
  const dataSize = await stat(layout.streamDataPath(id)).then(
    (s) => s.size,
    () => 0,
  );
  if (!record || (record.done === null && record.offset > dataSize)) {
    await rm(layout.streamDir(id), { recursive: true, force: true });
    return 1;
  }
  if (text === current) return 0;
  await writeFileAtomic(layout.streamStatePath(id), layout.tmp, text as string);
  return 1;
}

function parseRecord(text: string): { offset: number; done: unknown } | undefined {
  try {
    const r = JSON.parse(text) as { offset?: unknown; done?: unknown };
    if (typeof r.offset !== 'number' || !Number.isSafeInteger(r.offset) || r.offset < 0) return undefined;
    return { offset: r.offset, done: r.done ?? null };
  } catch {
    return undefined;
  }
}

/** fsyncs every file and folder under uploads/ (after a crash of the process, same boot). */
export async function settleUploads(layout: DiskLayout): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) await syncFile(path);
    }
    await fsyncDir(dir).catch(() => undefined);
  };
  await walk(layout.uploads);
}

async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

async function md5OfFile(path: string): Promise<string | undefined> {
  try {
    const hash = createHash('md5');
    for await (const buf of createReadStream(path, { highWaterMark: 1024 * 1024 }))
      hash.update(buf as Buffer);
    return hash.digest('hex');
  } catch {
    return undefined;
  }
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err: unknown) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return [];
    throw err;
  }
}
