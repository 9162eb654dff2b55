/**
 * The handshake (PROTOCOL.md §Handshake): validates the raw fields, answers at once for a file
 * already published when instant upload is open (instant.ts), else records the plan of the
 * requester's session (sessions.ts) and answers with the chunks still needed, plus a proof
 * challenge (proof.ts) for a published file under 'proof'.
 */

import { chunkCount } from '../protocol/chunk-layout.js';
import { TransferError } from '../protocol/errors.js';
import { fileKey, parseExt, parseFileId, parseSha256 } from '../protocol/ids.js';
import type { ProofChallenge } from '../protocol/types.js';
import type { PublishedFile, UploadPlan } from '../storage/storage.js';
import { assembleChecked, checkDeclaredSize, checkFreeSpace } from './bounds.js';
import type { UploadCore, UploadLimits } from './context.js';
import { neededChunksYielding, parseChunkIdsYielding } from './id-lists.js';
import { publishedFor } from './instant.js';
import { sessionOf, usageEntry } from './sessions.js';
import { planBytes, UNKNOWN_CLIENT } from './usage.js';

/** The handshake fields as they came off the wire, not yet validated. */
export interface RawHandshake {
  fileId?: unknown;
  ext?: unknown;
  chunkIds?: unknown;
  size?: unknown;
  chunkSize?: unknown;
  name?: unknown;
  /** Extension: the whole file's SHA-256 (64 hex digits), which then keys the upload too. */
  sha256?: unknown;
}

/** A validated handshake: what a plan is made of (a deferred one's fileId is its provisional key). */
export type HandshakeFields = Pick<
  UploadPlan,
  'fileId' | 'ext' | 'chunkIds' | 'size' | 'chunkSize' | 'name' | 'deferred'
> & {
  sha256: string | null;
};

export type HandshakeOutcome =
  | { kind: 'complete'; file: PublishedFile; ext: string }
  | { kind: 'needed'; needed: string[]; challenge?: ProofChallenge | undefined };

export function optionalInt(value: unknown, min: number): number | null {
  if (value === undefined || value === null || value === '') return null;
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) throw new TransferError('INVALID_FIELD');
  return n;
}

export function optionalName(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || value.length > 1024) throw new TransferError('INVALID_FIELD');
  return value;
}

/** Checks the fields in the order the seed complained in, so each mistake keeps its error code. */
async function validateHandshake(raw: RawHandshake, limits: UploadLimits): Promise<HandshakeFields> {
  const fileId = parseFileId(raw.fileId);
  const ext = parseExt(raw.ext);
  if (!Array.isArray(raw.chunkIds) || raw.chunkIds.length === 0) throw new TransferError('MISSING_CHUNK_IDS');
  if (raw.chunkIds.length > limits.maxChunks) {
    throw new TransferError(
      'TOO_MANY_CHUNKS',
      `Too many chunks: ${raw.chunkIds.length} > ${limits.maxChunks}; use larger chunks.`,
    );
  }
  const chunkIds = await parseChunkIdsYielding(raw.chunkIds);
  const size = optionalInt(raw.size, 0);
  const chunkSize = optionalInt(raw.chunkSize, 1);
  const name = optionalName(raw.name);
  const sha256 = parseSha256(raw.sha256);
  if (chunkSize !== null && chunkSize > limits.maxChunkSize) {
    throw new TransferError('CHUNK_TOO_LARGE', `chunkSize ${chunkSize} exceeds ${limits.maxChunkSize}.`);
  }
  if (size !== null && chunkSize !== null && chunkCount(size, chunkSize) !== chunkIds.length) {
    throw new TransferError('INVALID_FIELD', 'size, chunkSize and the number of chunk ids do not agree.');
  }
  return { fileId, ext, chunkIds, size, chunkSize, name, sha256 };
}

/**
 * Replaces the plan of the requester's session of the upload `key` with the one this handshake
 * declares, keeping when it began and the client it was counted for; no other session's plan is
 * touched. A new session is first admitted (the sessions of one upload, the caps per client and in
 * all) and its declared size must fit above the free-space reserve: nothing is written for a
 * refused one.
 *
 * `checkPrevious`, if given, is shown the session's plan as it stands (undefined: none) under the
 * same hold of the upload's lock that then writes the new one, before anything is admitted or
 * written; it throws to refuse. A deferred upload's continuation checks there that the session it
 * continues is still there and fits (deferred.ts): checked apart, an abandon or a commit could come
 * between the check and the write.
 */
export function recordPlan(
  core: UploadCore,
  key: string,
  fields: HandshakeFields,
  client: string,
  requester: string,
  checkPrevious?: (previous: UploadPlan | undefined) => void,
): Promise<{ plan: UploadPlan; held: ReadonlyMap<string, number> }> {
  return core.locks.run(key, async () => {
    const { usage, storage } = core;
    const session = sessionOf(requester);
    const entry = usageEntry(key, session);
    // Everything the plan's admission reads, at once: each read is a trip through the thread pool
    // and back through the event loop, which waits a turn of a busy loop.
    const space = Promise.resolve(storage.space?.());
    const holding = storage.heldChunks(key);
    // Awaited below; not unhandled if the admission stops first.
    space.catch(() => undefined);
    holding.catch(() => undefined);
    const previous = await storage.readPlan(key, session);
    checkPrevious?.(previous);
    if (!previous) {
      const sessions = (await storage.listPlans(key)).length;
      if (sessions >= core.limits.maxSessionsPerUpload) {
        throw new TransferError(
          'TOO_MANY_UPLOADS',
          `This file has ${sessions} upload sessions open, the limit; try again later.`,
        );
      }
    }
    const now = Date.now();
    // The session's caps and quota stay with the client that opened it.
    const counted = previous ? (previous.client ?? usage.ownerOf(entry) ?? UNKNOWN_CLIENT) : client;
    const plan: UploadPlan = {
      ...fields,
      fileId: key,
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
      client: counted,
      session,
      owner: requester,
    };
    const planDelta = planBytes(plan) - (previous ? planBytes(previous) : 0);
    const isNew = usage.ownerOf(entry) === undefined;
    if (isNew) usage.admit(entry, counted, planBytes(plan));
    else if (planDelta > 0) usage.checkQuota(counted, planDelta);
    let chunks: ReadonlyMap<string, number>;
    try {
      chunks = await holding;
      let held = 0;
      for (const size of chunks.values()) held += size;
      // Bytes the upload holds already need no new room.
      await checkFreeSpace(core, Math.max(0, (plan.size ?? 0) - held) + planBytes(plan), space);
      await storage.writePlan(plan);
    } catch (err: unknown) {
      if (isNew) usage.remove(entry);
      throw err;
    }
    if (!isNew) usage.grow(entry, planDelta);
    // What the answer's needed list is made of: read once, here (on S3 a LIST and a GET).
    return { plan, held: chunks };
  });
}

export async function acceptHandshake(
  core: UploadCore,
  raw: RawHandshake,
  client: string = UNKNOWN_CLIENT,
  requester: string = client,
): Promise<HandshakeOutcome> {
  const fields = await validateHandshake(raw, core.limits);
  checkDeclaredSize(core.limits, fields);
  try {
    const outcome = await answerHandshake(core, fields, client, requester);
    // Under 'proof' and 'off' a handshake earns no link by finding every chunk of its plan held:
    // it sent no byte, and chunks are shared by the upload's sessions (a one-chunk plan is the
    // file's MD5 + 0, known from the MD5 alone, and held as soon as its owner sent it). Its
    // assembly published the file; it is answered as a handshake for a published file is: a
    // proof challenge ('proof') or the chunks to send ('off'), whose bytes earn the link.
    if (outcome.kind === 'complete' && core.limits.instantUpload !== 'open') {
      return answerHandshake(core, fields, client, requester);
    }
    return outcome;
  } catch (err: unknown) {
    // Every chunk was held, but the upload went before its assembly read them, and no assembly is
    // known to have made the file from them (assembly.ts): the handshake is made again, and its
    // answer is what it is now (the link or a proof challenge for a published file, as instant
    // upload allows, else the chunks to send). A 404 would end the client's upload: it handshakes
    // again after a chunk's UPLOAD_NOT_FOUND, not after a handshake's.
    if (!(err instanceof TransferError && err.code === 'UPLOAD_NOT_FOUND')) throw err;
    return answerHandshake(core, fields, client, requester);
  }
}

/** The handshake's answer, once its fields are valid. */
async function answerHandshake(
  core: UploadCore,
  fields: HandshakeFields,
  client: string,
  requester: string,
): Promise<HandshakeOutcome> {
  const { fileId, ext } = fields;
  // A client that declared the SHA-256 uploads under its own key: its chunks never mix with
  // those of an MD5 twin (PROTOCOL.md §Collisions).
  const key = fileKey(fileId, fields.sha256);
  const policy = core.limits.instantUpload;
  const found = policy === 'off' ? undefined : await publishedFor(core, fileId, fields.sha256);
  if (found && policy === 'open') return { kind: 'complete', file: found, ext };
  // Under 'proof' the link a proof earns carries the file's SHA-256 (server/routes/upload-link.ts):
  // a file published before SHA-256s were recorded has none, so its client uploads (and assembly
  // publishes a copy that records it).
  const published = found?.sha256 ? found : undefined;

  await core.usage.ready();
  const { plan, held } = await recordPlan(core, key, fields, client, requester);
  const needed = await neededChunksYielding(plan.chunkIds, held);
  if (needed.length > 0) {
    const challenge = published ? core.challenges.issue(published, requester, ext, key) : undefined;
    return { kind: 'needed', needed, challenge };
  }
  // Everything is held already (e.g. a crash came between the last chunk and the publish): the
  // chunks just read under the lock serve assembly's bounds too.
  return { kind: 'complete', file: await assembleChecked(core, plan, undefined, held), ext };
}
