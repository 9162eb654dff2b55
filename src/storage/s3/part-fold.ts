/**
 * The whole-file MD5 and SHA-256 of an upload sent as parts (part-uploads.ts), continued from the
 * states parts.json keeps: on the process's fold thread (io/hash-fold.ts) where the SHA-256 addon
 * was built, else on the event loop as before.
 *
 * On the loop, the fold was its largest cost: a profile of a 256 MiB upload (CLI → S3 backend,
 * Ceph, 2 cores) had it busy 1.12 s folding the chunks sent ahead of their turn, each 8 MiB
 * chunk at once (~25 ms of blocked loop each), beside 0.85 s of chunk MD5s.
 */
import { type Fold, StreamFolds } from '../../io/hash-fold.js';
import { md5State } from '../../io/md5-state.js';
import { nativeSha256 } from '../../io/native-sha256.js';
import { sha256State } from '../../io/sha256-state.js';

/** Saved states (base64), as parts.json keeps them; both null: from the first byte. */
export interface FoldStates {
  md5State: string | null;
  sha256State: string | null;
}

/** The fold's end: its states to keep, and the digests of every byte so far. */
export interface FoldEnd {
  md5State: string;
  sha256State: string;
  md5: string;
  sha256: string;
}

/** A part fold: fed every byte in order, then finished or dropped. */
export interface PartFold {
  /** A promise when the thread is behind: wait for it before feeding more. */
  update(buf: Buffer): undefined | Promise<void>;
  finish(): Promise<FoldEnd>;
  drop(): void;
}

const folds = new StreamFolds();

/** Continues `s` (from the first byte unless both states are set). */
export async function partFold(s: FoldStates): Promise<PartFold> {
  const both = s.md5State !== null && s.sha256State !== null;
  const md5 = both ? s.md5State : null;
  const sha = both ? s.sha256State : null;
  // The thread continues only the addon's SHA-256 form: a state hash-wasm saved (a process
  // without the addon wrote it) stays on the loop.
  if (nativeSha256 && (sha === null || loads(sha))) return threaded(folds.begin(md5, sha));
  return onLoop(md5, sha);
}

function loads(state: string): boolean {
  try {
    nativeSha256?.create(Buffer.from(state, 'base64'));
    return true;
  } catch {
    return false;
  }
}

function threaded(fold: Fold): PartFold {
  return {
    update: (buf) => fold.update(buf),
    async finish() {
      const r = await fold.finish();
      if (r.sha256State === undefined || r.sha256 === undefined) throw new Error('the fold lost its SHA-256');
      return { md5State: r.md5State, sha256State: r.sha256State, md5: r.md5, sha256: r.sha256 };
    },
    drop: () => fold.drop(),
  };
}

async function onLoop(md5Saved: string | null, shaSaved: string | null): Promise<PartFold> {
  const md5 = await md5State(md5Saved === null ? null : Buffer.from(md5Saved, 'base64'));
  const sha = await sha256State(shaSaved === null ? null : Buffer.from(shaSaved, 'base64'));
  const saved = (h: { save(): Uint8Array }) => Buffer.from(h.save()).toString('base64');
  return {
    update(buf) {
      md5.update(buf);
      sha.update(buf);
      return undefined;
    },
    async finish() {
      return { md5State: saved(md5), sha256State: saved(sha), md5: md5.hex(), sha256: sha.hex() };
    },
    drop() {},
  };
}
