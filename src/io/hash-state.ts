/**
 * A running hash whose state can be saved and continued elsewhere (io/md5-state.ts,
 * io/sha256-state.ts): over one of the OpenSSL addons of native/ where it was built, else over
 * hash-wasm.
 */
import type { IHasher } from 'hash-wasm';

export interface HashState {
  update(bytes: Uint8Array): void;
  /** The state in its saved form. */
  save(): Uint8Array;
  /** The digest of every byte so far, in hex; the state stays usable. */
  hex(): string;
}

/** The calls native/md5.c and native/sha256.c both offer; a running state is a Buffer. */
export interface HashAddon {
  /** A fresh state, or one loaded from save()'s bytes (throws RangeError on anything else). */
  create(saved?: Uint8Array | null): Buffer;
  update(ctx: Buffer, bytes: Uint8Array): void;
  save(ctx: Buffer): Buffer;
  /** The digest of every byte so far; the state stays usable. */
  digest(ctx: Buffer): Buffer;
}

/** The addon's state `ctx`; `head`: bytes its saved form carries in front (hash-wasm's prefix). */
export function addonState(addon: HashAddon, ctx: Buffer, head?: Uint8Array): HashState {
  return {
    update: (bytes) => addon.update(ctx, bytes),
    save: () => (head ? Buffer.concat([head, addon.save(ctx)]) : addon.save(ctx)),
    hex: () => addon.digest(ctx).toString('hex'),
  };
}

/** A hash-wasm hasher, fresh or continuing `saved`. */
export function wasmState(h: IHasher, saved: Uint8Array | null): HashState {
  if (saved) h.load(saved);
  else h.init();
  return {
    update: (bytes) => h.update(bytes),
    save: () => h.save(),
    // digest() ends hash-wasm's state: continue from a copy of it.
    hex: () => {
      const state = h.save();
      const out = h.digest('hex');
      h.load(state);
      return out;
    },
  };
}
