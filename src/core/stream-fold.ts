/**
 * The fold of a stream upload (tus, IETF): its whole-file MD5 and SHA-256 folded on the process's
 * fold thread (io/hash-fold.ts, which says how and what it cost) while its bytes arrive, the
 * states stored in the upload's record after every append, and read back from it.
 */
import { md5State } from '../io/md5-state.js';
import { nativeSha256, sha256StateBytes } from '../io/native-sha256.js';
import type { StreamRecord } from '../storage/stream-store.js';

export { type Fold, type FoldResult, StreamFolds } from '../io/hash-fold.js';

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
