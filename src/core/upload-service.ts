/**
 * The upload protocol (PROTOCOL.md §Handshake, §Chunk upload) on top of a Storage, with no HTTP
 * in it: the one facade the protocol adapters call. Each step lives in its own file as a function
 * of the shared UploadCore (context.ts); this class only owns that context and names the steps.
 */
import type { Readable } from 'node:stream';
import type { StatePage } from '../protocol/types.js';
import type { StagedChunk, Storage } from '../storage/storage.js';
import { abandonUpload } from './abandon.js';
import { Assemblies } from './assembly.js';
import { type ChunkStager, stageChunk } from './chunk-placement.js';
import { type ChunkOutcome, receiveChunk } from './chunk-receipt.js';
import type { UploadCore, UploadLimits } from './context.js';
import { acceptHandshake, type HandshakeOutcome, type RawHandshake } from './handshake.js';
import { KeyedMutex } from './keyed-mutex.js';
import { type StateReport, uploadState } from './state.js';
import { sweepExpired } from './sweep.js';

export class UploadService implements ChunkStager {
  private readonly core: UploadCore;

  constructor(
    readonly storage: Storage,
    readonly limits: UploadLimits,
  ) {
    const locks = new KeyedMutex();
    this.core = { storage, limits, locks, assemblies: new Assemblies(storage, locks) };
  }

  handshake(raw: RawHandshake): Promise<HandshakeOutcome> {
    return acceptHandshake(this.core, raw);
  }

  stage(body: Readable, rawFileId?: unknown, rawChunkId?: unknown): Promise<StagedChunk> {
    return stageChunk(this.core, body, rawFileId, rawChunkId);
  }

  discard(staged: StagedChunk): Promise<void> {
    return this.storage.discardChunk(staged);
  }

  /**
   * Files a staged chunk under an upload. Takes ownership of `staged`: it is committed or
   * discarded whatever happens.
   */
  receiveChunk(rawFileId: unknown, rawChunkId: unknown, staged: StagedChunk): Promise<ChunkOutcome> {
    return receiveChunk(this.core, rawFileId, rawChunkId, staged);
  }

  state(rawFileId: unknown, page?: StatePage): Promise<StateReport> {
    return uploadState(this.core, rawFileId, page);
  }

  abandon(rawFileId: unknown): Promise<void> {
    return abandonUpload(this.core, rawFileId);
  }

  /** Deletes uploads idle for longer than maxIdleMs and stray temp data. Returns what it removed. */
  sweep(maxIdleMs: number, now = Date.now()): Promise<{ uploads: number; temp: number }> {
    return sweepExpired(this.core, maxIdleMs, now);
  }
}
