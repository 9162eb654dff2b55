/**
 * A running MD5 whose state can be saved and continued elsewhere (another process, after a
 * restart): the whole-file MD5 a stream upload folds as its bytes arrive. Computed by Node's
 * OpenSSL through native/md5.c where that addon was built (1.4× hash-wasm's speed on the bench
 * machine: the C file has the figures), else by hash-wasm. Both save the same bytes (hash-wasm's
 * form: its 4-byte prefix, then its MD5 struct), so a state saved by one continues in the other.
 */
import { createMD5 } from 'hash-wasm';
import { loadAddon } from './native-addon.js';

interface Md5Addon {
  create(saved?: Uint8Array | null): Buffer;
  update(ctx: Buffer, bytes: Uint8Array): void;
  save(ctx: Buffer): Buffer;
  digest(ctx: Buffer): Buffer;
}

const addon = loadAddon('rt_md5.node', ['create', 'update', 'save', 'digest']) as Md5Addon | undefined;

/** Whether the MD5 runs in OpenSSL here (for the startup line and the tests). */
export const nativeMd5 = addon !== undefined;

export interface Md5State {
  update(bytes: Uint8Array): void;
  /** The state in hash-wasm's saved form. */
  save(): Uint8Array;
  /** The MD5 of every byte so far, in hex; the state stays usable. */
  hex(): string;
}

let prefix: Promise<Uint8Array> | undefined;
/** hash-wasm's 4 bytes in front of a saved state (they name its build of the code). */
function wasmPrefix(): Promise<Uint8Array> {
  prefix ??= createMD5().then((h) => h.init().save().slice(0, 4));
  return prefix;
}

/** A fresh MD5, or one continuing a saved state (throws on bytes that are not one). */
export async function md5State(saved: Uint8Array | null): Promise<Md5State> {
  const head = await wasmPrefix();
  if (!addon || (saved && !sameBytes(saved.subarray(0, 4), head))) return wasmState(saved);
  const ctx = addon.create(saved ? saved.subarray(4) : null);
  return {
    update: (bytes) => addon.update(ctx, bytes),
    save: () => Buffer.concat([head, addon.save(ctx)]),
    hex: () => addon.digest(ctx).toString('hex'),
  };
}

async function wasmState(saved: Uint8Array | null): Promise<Md5State> {
  const h = await createMD5();
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
