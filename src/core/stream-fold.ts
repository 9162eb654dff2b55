/**
 * A stream upload's folded hashes as its record keeps them (the folds themselves run on the
 * hash threads of io/hash-folds.ts): which SHA-256 state the next append continues, and the
 * digests a completion reads from the saved states instead of reading the bytes back.
 */
import { md5State } from '../io/md5-state.js';
import { nativeSha256, sha256StateBytes } from '../io/native-sha256.js';
import type { StreamRecord } from '../storage/stream-store.js';

/**
 * The SHA-256 state an upload's next fold continues (StreamRecord.sha256State): null from the
 * first byte; undefined when its bytes so far were not folded into one.
 */
export function sha256StateOf(record: StreamRecord): string | null | undefined {
  if (record.offset === 0) return null;
  const state = record.sha256State;
  if (typeof state !== 'string') return undefined;
  // A state that covers fewer bytes than the record counts is not continued: a version that
  // folds no SHA-256 appended after it and kept it as it was (two versions over one bucket
  // during an upgrade, or a downgrade and back).
  return sha256StateBytes(Buffer.from(state, 'base64')) === record.offset ? state : undefined;
}

/**
 * The SHA-256 of an upload's bytes from its record's folded state, or undefined when it has none
 * that covers every byte (then the bytes are read back).
 */
export function sha256OfState(record: StreamRecord): string | undefined {
  const state = sha256StateOf(record);
  if (state === undefined || !nativeSha256) return undefined;
  try {
    return nativeSha256
      .digest(nativeSha256.create(state === null ? null : Buffer.from(state, 'base64')))
      .toString('hex');
  } catch {
    return undefined;
  }
}

/** The MD5 of a stored state, or of nothing. */
export async function md5OfState(saved: string | null): Promise<string> {
  return (await md5State(saved ? Buffer.from(saved, 'base64') : null)).hex();
}
