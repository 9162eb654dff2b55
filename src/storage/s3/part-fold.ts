/**
 * The whole-file MD5 and SHA-256 of an upload sent as parts (part-uploads.ts), continued from the
 * states parts.json keeps, on the event loop: a chunk in its turn is folded buffer by buffer as
 * it streams in; bytes already in memory or read back (a chunk kept ahead of its turn, at most
 * 8 MiB; chunk objects read at assembly, of any size) are folded in slices of 1 MiB with the loop
 * let go between them, where a kept chunk was folded at once before: at the bench machine's
 * 458 MB/s of MD5 and 1,064 MB/s of SHA-256, ~26 ms of held loop for an 8 MiB chunk, ~3 ms a
 * slice (computed from those speeds, not timed).
 *
 * Why not the hash threads of stream uploads and local-disk chunks (io/hash-folds.ts): tried, it cost more than it
 * gave. 256 MiB, CLI → S3 backend on the test Ceph, 2 cores, the two in turns, 3 runs each:
 * on the thread 5.77 s median, server CPU 3.6–3.9 s, peak RSS 209–221 MB; here 5.67 s,
 * 3.1–3.5 s, 173–199 MB. The copies into the thread's blocks and its isolate cost more than the
 * hashing it moves, with the client and the store on the same two cores.
 */
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { HashState } from '../../io/hash-state.js';
import { md5State } from '../../io/md5-state.js';
import { sha256State } from '../../io/sha256-state.js';

/** Saved states (base64), as parts.json keeps them; both null: from the first byte. */
export interface FoldStates {
  md5State: string | null;
  sha256State: string | null;
}

/** The bytes folded between two turns of the loop. */
const SLICE = 1024 * 1024;

export class PartFold {
  private constructor(
    private readonly md5: HashState,
    private readonly sha: HashState,
  ) {}

  /** Continues `s` (from the first byte unless both states are set). */
  static async of(s: FoldStates): Promise<PartFold> {
    const both = s.md5State && s.sha256State;
    const md5 = await md5State(both ? Buffer.from(s.md5State ?? '', 'base64') : null);
    const sha = await sha256State(both ? Buffer.from(s.sha256State ?? '', 'base64') : null);
    return new PartFold(md5, sha);
  }

  /** A buffer as it streams in (the body's own pace bounds each). */
  update(buf: Uint8Array): void {
    this.md5.update(buf);
    this.sha.update(buf);
  }

  /** Bytes already in memory or read back, a slice per turn of the loop; resolves with their count. */
  async feed(bufs: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<number> {
    let bytes = 0;
    let yieldAt = SLICE;
    for await (const buf of bufs) {
      for (let at = 0; at < buf.length; at += SLICE) {
        const slice = buf.subarray(at, at + SLICE);
        this.update(slice);
        bytes += slice.length;
        if (bytes >= yieldAt) {
          yieldAt = bytes + SLICE;
          await yieldLoop();
        }
      }
    }
    return bytes;
  }

  /** The states to keep in parts.json (base64). */
  saved(): { md5State: string; sha256State: string } {
    return {
      md5State: Buffer.from(this.md5.save()).toString('base64'),
      sha256State: Buffer.from(this.sha.save()).toString('base64'),
    };
  }

  /** The digests of every byte so far. */
  digests(): { md5: string; sha256: string } {
    return { md5: this.md5.hex(), sha256: this.sha.hex() };
  }
}
