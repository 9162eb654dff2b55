/**
 * Instant upload (秒传, PROTOCOL.md §Instant upload) under the policy limits.instantUpload:
 * which published file a handshake names, and the proof of ownership that earns its link under
 * 'proof' (proof.ts has the scheme).
 */
import { TransferError } from '../protocol/errors.js';
import { fileKey, md5OfKey, parseExt, parseFileId, parseSha256 } from '../protocol/ids.js';
import type { PublishedFile } from '../storage/storage.js';
import type { UploadCore } from './context.js';
import { proofDigest, sameDigest } from './proof.js';
import { sessionOf, usageEntry } from './sessions.js';
import { UNKNOWN_CLIENT } from './usage.js';

/**
 * The published file with these bytes: for an MD5-only client the one under the MD5 (all it can
 * name); with a SHA-256 (or its first 16 hex digits, from a key) only a file that has it, under
 * the MD5 or as the twin `<md5>-<sha16>`. A collision twin is never the answer.
 */
export async function publishedFor(
  core: UploadCore,
  md5: string,
  sha: string | null,
): Promise<PublishedFile | undefined> {
  if (sha === null) return core.storage.statFile(md5);
  // Both at once (on S3, two HEADs): the twin is looked at whenever the first does not match.
  const [first, twin] = await Promise.all([
    core.storage.statFile(md5),
    core.storage.statFile(fileKey(md5, sha)),
  ]);
  const matches = (f: PublishedFile | undefined) => (f?.sha256?.startsWith(sha) ? f : undefined);
  return matches(first) ?? matches(twin);
}

/** The published file an upload key names (`<md5>` or `<md5>-<sha16>`). */
export function publishedForKey(core: UploadCore, key: string): Promise<PublishedFile | undefined> {
  return publishedFor(core, md5OfKey(key), key.length > 32 ? key.slice(33) : null);
}

export interface RawProof {
  fileId?: unknown;
  sha256?: unknown;
  ext?: unknown;
  /** The file's size, as the handshake declared it (optional; access control may need it). */
  size?: unknown;
  nonce?: unknown;
  proof?: unknown;
}

/**
 * Checks a proof against the single-use challenge it answers (same requester, same file, and the
 * same size if one is named) by reading the challenge's ranges of the published file (at most
 * PROOF_RANGES × PROOF_RANGE_BYTES).
 * Success closes the requester's session opened by the handshake and answers the file; anything
 * else is 403 PROOF_FAILED and the challenge is spent.
 */
export async function proveOwnership(
  core: UploadCore,
  raw: RawProof,
  requester: string = UNKNOWN_CLIENT,
): Promise<{ file: PublishedFile; ext: string }> {
  const fileId = parseFileId(raw.fileId);
  const sha = parseSha256(raw.sha256);
  const ext = parseExt(raw.ext);
  const nonce = typeof raw.nonce === 'string' && raw.nonce.length <= 64 ? raw.nonce : undefined;
  const proof =
    typeof raw.proof === 'string' && /^[0-9a-fA-F]{64}$/.test(raw.proof)
      ? raw.proof.toLowerCase()
      : undefined;
  if (!nonce || !proof)
    throw new TransferError('PROOF_FAILED', 'nonce and proof (64 hex digits) are required.');
  const issued = core.challenges.take(nonce);
  if (
    !issued ||
    issued.requester !== requester ||
    issued.fileId !== fileId ||
    issued.ext !== ext ||
    issued.uploadKey !== fileKey(fileId, sha)
  ) {
    throw new TransferError(
      'PROOF_FAILED',
      'No such challenge for you and this file (used, expired or never issued).',
    );
  }
  const opened = await core.storage.openFile(issued.key);
  if (!opened) throw new TransferError('PROOF_FAILED', 'The file is gone; upload it.');
  let expected: string;
  try {
    if (raw.size !== undefined && raw.size !== null && Number(raw.size) !== opened.file.size)
      throw new TransferError('PROOF_FAILED', 'This is not the size of the file.');
    const parts: Buffer[] = [];
    for (const [start, end] of issued.ranges) parts.push(await opened.source.read(start, end));
    expected = proofDigest(nonce, parts);
  } finally {
    await opened.source.close();
  }
  if (!sameDigest(expected, proof)) throw new TransferError('PROOF_FAILED');
  await closeSession(core, issued.uploadKey, requester);
  return { file: opened.file, ext };
}

/** The requester is done with the upload (it proved it holds the file): its session goes. */
async function closeSession(core: UploadCore, key: string, requester: string): Promise<void> {
  const session = sessionOf(requester);
  await core.locks.run(key, async () => {
    const plans = await core.storage.listPlans(key);
    if (!plans.some((p) => p.session === session)) return;
    if (plans.length === 1) {
      await core.storage.removeUpload(key);
      core.usage.removeUpload(key);
    } else {
      await core.storage.removePlan(key, session);
      core.usage.remove(usageEntry(key, session));
    }
  });
}
