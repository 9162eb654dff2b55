/**
 * The upload protocol (PROTOCOL.md §Handshake, §Chunk upload) on top of a Storage, with no HTTP
 * in it: the one facade the protocol adapters call. Each step lives in its own file as a function
 * of the shared UploadCore (context.ts); this class only owns that context and names the steps.
 */
import { mapFsError } from '../io/fs-util.js';
import { KeyedMutex } from '../io/keyed-mutex.js';
import type { StatePage } from '../protocol/types.js';
import type { PublishedFile, StagedChunk, Storage } from '../storage/storage.js';
import { type AbandonOptions, abandonUpload } from './abandon.js';
import { Assemblies } from './assembly.js';
import { type ChunkStager, stageChunk } from './chunk-placement.js';
import { type ChunkOutcome, receiveChunk } from './chunk-receipt.js';
import { type ResolvedLimits, resolveLimits, type UploadCore, type UploadLimits } from './context.js';
import {
  commitDeferred,
  type DeferredOpened,
  openDeferred,
  type RawCommit,
  type RawDeferredHandshake,
} from './deferred.js';
import { acceptHandshake, type HandshakeOutcome, type RawHandshake } from './handshake.js';
import { proveOwnership, type RawProof } from './instant.js';
import { ProofChallenges } from './proof.js';
import { type StateReport, uploadState } from './state.js';
import { type SweepResult, sweepExpired } from './sweep.js';
import { UploadUsage } from './usage.js';

/** Out of space or of descriptors anywhere below becomes its protocol error (507, 503). */
function mapped<T>(p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw mapFsError(err);
  });
}

export class UploadService implements ChunkStager {
  private readonly core: UploadCore;
  /** The limits in force: those given, and the defaults of the others. */
  readonly limits: ResolvedLimits;

  constructor(
    readonly storage: Storage,
    limits: UploadLimits,
  ) {
    const locks = new KeyedMutex();
    this.limits = resolveLimits(limits);
    this.core = {
      storage,
      limits: this.limits,
      locks,
      assemblies: new Assemblies(storage, locks, this.limits.instantUpload !== 'open'),
      usage: new UploadUsage(storage, this.limits),
      challenges: new ProofChallenges(this.limits.maxProofChallenges),
    };
  }

  /**
   * What is held now, for /metrics: incomplete uploads, their bytes, assemblies running, and the
   * uploads whose made file assembly remembers (core/assembly.ts).
   */
  stats(): { uploads: number; heldBytes: number; assemblies: number; remembered: number } {
    const { uploads, bytes } = this.core.usage.totals();
    const { count: assemblies, remembered } = this.core.assemblies;
    return { uploads, heldBytes: bytes, assemblies, remembered };
  }

  /**
   * `client`: the address key of the requesting client (its caps and quota; see usage.clientKey).
   * `requester`: who asks (sessions.ts requesterOf: a principal, else the client's address key);
   * each requester has its own session of an upload. Default: the client.
   */
  handshake(
    raw: RawHandshake,
    client?: string,
    requester: string | undefined = client,
  ): Promise<HandshakeOutcome> {
    return mapped(acceptHandshake(this.core, raw, client, requester));
  }

  /**
   * A deferred handshake (deferred.ts): the layout without the fileId; answers a provisional
   * upload id in a session of the requester.
   */
  openDeferred(
    raw: RawDeferredHandshake,
    client?: string,
    requester: string | undefined = client,
  ): Promise<DeferredOpened> {
    return mapped(openDeferred(this.core, raw, client, requester));
  }

  /** Commits the requester's deferred upload under the fileId it names, verified by assembly. */
  commit(raw: RawCommit, requester?: string): Promise<{ file: PublishedFile; ext: string }> {
    return mapped(commitDeferred(this.core, raw, requester));
  }

  /**
   * Answers a handshake's proof challenge (instantUpload 'proof'): the published file and the ext
   * asked for, or 403 PROOF_FAILED.
   */
  prove(raw: RawProof, requester?: string): Promise<{ file: PublishedFile; ext: string }> {
    return mapped(proveOwnership(this.core, raw, requester));
  }

  stage(...args: Parameters<ChunkStager['stage']>): Promise<StagedChunk> {
    return mapped(stageChunk(this.core, ...args));
  }

  discard(staged: StagedChunk): Promise<void> {
    return this.storage.discardChunk(staged);
  }

  /**
   * Files a staged chunk under an upload. Takes ownership of `staged`: it is committed or
   * discarded whatever happens.
   */
  receiveChunk(
    rawFileId: unknown,
    rawChunkId: unknown,
    staged: StagedChunk,
    requester?: string,
  ): Promise<ChunkOutcome> {
    return mapped(receiveChunk(this.core, rawFileId, rawChunkId, staged, requester));
  }

  state(rawFileId: unknown, page?: StatePage, requester?: string): Promise<StateReport> {
    return mapped(uploadState(this.core, rawFileId, page, requester));
  }

  /** Abandons the requester's session (403 FORBIDDEN for another's, unless options.admin). */
  abandon(rawFileId: unknown, requester?: string, options?: AbandonOptions): Promise<void> {
    return mapped(abandonUpload(this.core, rawFileId, requester, options));
  }

  /**
   * Deletes uploads idle for longer than maxIdleMs, stray temp data, and published files past
   * limits.expirePublishedMs. Returns what it removed.
   */
  sweep(maxIdleMs: number, now = Date.now()): Promise<SweepResult> {
    return sweepExpired(this.core, maxIdleMs, now);
  }

  /** The shared core: the byte-stream uploads (stream-service.ts) count against its caps and quotas. */
  get shared(): UploadCore {
    return this.core;
  }
}
