/**
 * The upload protocol (PROTOCOL.md §Handshake, §Chunk upload) on top of a Storage, with no HTTP
 * in it. Concurrency: every change to one upload's plan or chunks runs under that upload's lock,
 * so a chunk is counted once and each answer sees a consistent set; assembly runs outside the
 * lock, once per file (single flight), and every request that finds the set complete waits for
 * that one assembly before it answers.
 */
import { TransferError } from '../protocol/errors.js';
import { type ChunkId, parseChunkId, parseExt, parseFileId } from '../protocol/ids.js';
import type { UploadState } from '../protocol/types.js';
import type { ChunkTarget, PublishedFile, StagedChunk, Storage, UploadPlan } from '../storage/storage.js';
import { KeyedMutex } from './keyed-mutex.js';

export interface UploadLimits {
  maxChunkSize: number;
  maxChunks: number;
}

/** The handshake fields as they came off the wire, not yet validated. */
export interface RawHandshake {
  fileId?: unknown;
  ext?: unknown;
  chunkIds?: unknown;
  size?: unknown;
  chunkSize?: unknown;
  name?: unknown;
}

export type HandshakeOutcome =
  | { kind: 'complete'; file: PublishedFile; ext: string }
  | { kind: 'needed'; needed: string[] };

export interface ChunkOutcome {
  needed: string[];
  /** Set when this answer completes the upload: the published file. */
  file?: PublishedFile;
  stored: boolean;
  /** The extension of the upload's plan ('' if the plan is already gone). */
  ext: string;
}

function optionalInt(value: unknown, min: number): number | null {
  if (value === undefined || value === null || value === '') return null;
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) throw new TransferError('INVALID_FIELD');
  return n;
}

function optionalName(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || value.length > 1024) throw new TransferError('INVALID_FIELD');
  return value;
}

/** The chunk ids still needed, in plan order, each once. */
export function neededChunks(chunkIds: readonly string[], held: ReadonlyMap<string, number>): string[] {
  const seen = new Set<string>();
  const needed: string[] = [];
  for (const id of chunkIds) {
    if (seen.has(id)) continue;
    seen.add(id);
    if (!held.has(id.slice(0, 32))) needed.push(id);
  }
  return needed;
}

export class UploadService {
  private readonly locks = new KeyedMutex();
  private readonly assemblies = new Map<string, Promise<PublishedFile>>();

  constructor(
    readonly storage: Storage,
    readonly limits: UploadLimits,
  ) {}

  async handshake(raw: RawHandshake): Promise<HandshakeOutcome> {
    const fileId = parseFileId(raw.fileId);
    const ext = parseExt(raw.ext);
    if (!Array.isArray(raw.chunkIds) || raw.chunkIds.length === 0)
      throw new TransferError('MISSING_CHUNK_IDS');
    if (raw.chunkIds.length > this.limits.maxChunks) {
      throw new TransferError(
        'TOO_MANY_CHUNKS',
        `Too many chunks: ${raw.chunkIds.length} > ${this.limits.maxChunks}; use larger chunks.`,
      );
    }
    const chunkIds = raw.chunkIds.map((c) => parseChunkId(c).id);
    const size = optionalInt(raw.size, 0);
    const chunkSize = optionalInt(raw.chunkSize, 1);
    const name = optionalName(raw.name);
    if (chunkSize !== null && chunkSize > this.limits.maxChunkSize) {
      throw new TransferError(
        'CHUNK_TOO_LARGE',
        `chunkSize ${chunkSize} exceeds ${this.limits.maxChunkSize}.`,
      );
    }
    if (size !== null && chunkSize !== null && Math.max(1, Math.ceil(size / chunkSize)) !== chunkIds.length) {
      throw new TransferError('INVALID_FIELD', 'size, chunkSize and the number of chunk ids do not agree.');
    }

    const published = await this.storage.statFile(fileId);
    if (published) return { kind: 'complete', file: published, ext };

    const plan = await this.locks.run(fileId, async () => {
      const previous = await this.storage.readPlan(fileId);
      const now = Date.now();
      const next: UploadPlan = {
        fileId,
        ext,
        chunkIds,
        size,
        chunkSize,
        name,
        createdAt: previous?.createdAt ?? now,
        updatedAt: now,
      };
      await this.storage.writePlan(next);
      return next;
    });
    const needed = neededChunks(plan.chunkIds, await this.storage.heldChunks(fileId));
    if (needed.length > 0) return { kind: 'needed', needed };
    // Everything is held already (e.g. a crash came between the last chunk and the publish).
    return { kind: 'complete', file: await this.assembleOnce(plan), ext };
  }

  /**
   * Where a chunk's bytes belong, when the storage can write them there and the plan fixes the
   * layout (size and chunkSize declared); undefined otherwise. Read before the body, without the
   * lock: receiveChunk checks everything again.
   */
  async chunkTarget(rawFileId: unknown, rawChunkId: unknown): Promise<ChunkTarget | undefined> {
    if (!this.storage.placesChunks) return undefined;
    try {
      const fileId = parseFileId(rawFileId);
      const { id } = parseChunkId(rawChunkId);
      const plan = await this.storage.readPlan(fileId);
      if (!plan || plan.size === null || plan.chunkSize === null) return undefined;
      const index = plan.chunkIds.indexOf(id);
      if (index < 0) return undefined;
      const offset = index * plan.chunkSize;
      const length = Math.min(plan.chunkSize, plan.size - offset);
      return { fileId, index, offset, length, size: plan.size, chunkSize: plan.chunkSize };
    } catch {
      return undefined;
    }
  }

  /**
   * Files a staged chunk under an upload. Takes ownership of `staged`: it is committed or
   * discarded whatever happens.
   */
  async receiveChunk(rawFileId: unknown, rawChunkId: unknown, staged: StagedChunk): Promise<ChunkOutcome> {
    let fileId: string;
    let chunk: ChunkId;
    try {
      fileId = parseFileId(rawFileId);
      chunk = parseChunkId(rawChunkId);
    } catch (err: unknown) {
      await this.storage.discardChunk(staged);
      throw err;
    }
    const outcome = await this.locks.run(fileId, async () => {
      try {
        const published = await this.storage.statFile(fileId);
        if (published) {
          await this.storage.discardChunk(staged);
          const plan = await this.storage.readPlan(fileId);
          return { needed: [], file: published, stored: false, plan };
        }
        const plan = await this.storage.readPlan(fileId);
        if (!plan) throw new TransferError('UPLOAD_NOT_FOUND');
        if (!plan.chunkIds.includes(chunk.id)) throw new TransferError('CHUNK_NOT_IN_PLAN');
        if (staged.md5 !== chunk.md5) throw new TransferError('CHUNK_MD5_MISMATCH');
        if (plan.chunkSize !== null && staged.size > plan.chunkSize) {
          throw new TransferError(
            'CHUNK_TOO_LARGE',
            `Chunk of ${staged.size} bytes > declared ${plan.chunkSize}.`,
          );
        }
        const stored = await this.storage.commitChunk(staged, fileId);
        const needed = neededChunks(plan.chunkIds, await this.storage.heldChunks(fileId));
        return { needed, stored, plan, file: undefined };
      } catch (err: unknown) {
        await this.storage.discardChunk(staged);
        throw err;
      }
    });
    const ext = outcome.plan?.ext ?? outcome.file?.ext ?? '';
    if (outcome.file) return { needed: [], file: outcome.file, stored: false, ext };
    if (outcome.needed.length > 0 || !outcome.plan)
      return { needed: outcome.needed, stored: outcome.stored, ext };
    return { needed: [], file: await this.assembleOnce(outcome.plan), stored: outcome.stored, ext };
  }

  private assembleOnce(plan: UploadPlan): Promise<PublishedFile> {
    const running = this.assemblies.get(plan.fileId);
    if (running) return running;
    const job = this.storage
      .assemble(plan.fileId, {
        md5s: plan.chunkIds.map((id) => id.slice(0, 32)),
        expectedSize: plan.size,
        name: plan.name,
        ext: plan.ext,
      })
      .catch(async (err: unknown) => {
        // A forged fileId (or a wrong chunk order) can never assemble: drop the upload so
        // nothing is retried forever and no one is ever handed these bytes.
        if (
          err instanceof TransferError &&
          (err.code === 'FILE_MD5_MISMATCH' || err.code === 'SIZE_MISMATCH')
        ) {
          await this.locks.run(plan.fileId, () => this.storage.removeUpload(plan.fileId));
        }
        throw err;
      })
      .finally(() => this.assemblies.delete(plan.fileId));
    this.assemblies.set(plan.fileId, job);
    return job;
  }

  async state(rawFileId: unknown): Promise<{ state: UploadState; file?: PublishedFile }> {
    const fileId = parseFileId(rawFileId);
    const published = await this.storage.statFile(fileId);
    const plan = await this.storage.readPlan(fileId);
    if (published) {
      return {
        file: published,
        state: {
          fileId,
          ext: plan?.ext ?? published.ext ?? '',
          status: 'complete',
          chunkIds: plan?.chunkIds ?? [],
          held: [],
          needed: [],
          bytesHeld: published.size,
          size: published.size,
          url: null,
        },
      };
    }
    if (!plan) throw new TransferError('UPLOAD_NOT_FOUND');
    const heldMap = await this.storage.heldChunks(fileId);
    const needed = neededChunks(plan.chunkIds, heldMap);
    const neededSet = new Set(needed);
    const held = [...new Set(plan.chunkIds)].filter((id) => !neededSet.has(id));
    let bytesHeld = 0;
    for (const size of heldMap.values()) bytesHeld += size;
    return {
      state: {
        fileId,
        ext: plan.ext,
        status: 'uploading',
        chunkIds: plan.chunkIds,
        held,
        needed,
        bytesHeld,
        size: plan.size,
        url: null,
      },
    };
  }

  async abandon(rawFileId: unknown): Promise<void> {
    const fileId = parseFileId(rawFileId);
    await this.assemblies.get(fileId)?.catch(() => undefined);
    await this.locks.run(fileId, async () => {
      if (!(await this.storage.readPlan(fileId))) throw new TransferError('UPLOAD_NOT_FOUND');
      await this.storage.removeUpload(fileId);
    });
  }

  /** Deletes uploads idle for longer than maxIdleMs and stray temp data. Returns what it removed. */
  async sweep(maxIdleMs: number, now = Date.now()): Promise<{ uploads: number; temp: number }> {
    let uploads = 0;
    for await (const u of this.storage.listUploads()) {
      if (now - u.lastActivity <= maxIdleMs) continue;
      if (this.locks.isLocked(u.fileId) || this.assemblies.has(u.fileId)) continue;
      await this.locks.run(u.fileId, () => this.storage.removeUpload(u.fileId));
      uploads++;
    }
    const temp = await this.storage.sweepTemp(Math.min(maxIdleMs, 60 * 60 * 1000));
    return { uploads, temp };
  }
}
