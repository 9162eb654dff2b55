/**
 * A running MD5 whose state can be saved and continued elsewhere (another process, after a
 * restart): the whole-file MD5 a stream upload folds as its bytes arrive. Computed by Node's
 * OpenSSL through native/md5.c where that addon was built (1.4× hash-wasm's speed on the bench
 * machine: the C file has the figures), else by hash-wasm. Both save the same bytes (hash-wasm's
 * form: its 4-byte prefix, then its MD5 struct), so a state saved by one continues in the other.
 */
import { createMD5 } from 'hash-wasm';
import { addonState, type HashAddon, type HashState, wasmState } from './hash-state.js';
import { loadAddon } from './native-addon.js';

const addon = loadAddon('rt_md5.node', ['create', 'update', 'save', 'digest']) as HashAddon | undefined;

/** Whether the MD5 runs in OpenSSL here (for the startup line and the tests). */
export const nativeMd5 = addon !== undefined;

let prefix: Promise<Uint8Array> | undefined;
/** hash-wasm's 4 bytes in front of a saved state (they name its build of the code). */
function wasmPrefix(): Promise<Uint8Array> {
  prefix ??= createMD5().then((h) => h.init().save().slice(0, 4));
  return prefix;
}

/** A fresh MD5, or one continuing a saved state in hash-wasm's form (throws on other bytes). */
export async function md5State(saved: Uint8Array | null): Promise<HashState> {
  const head = await wasmPrefix();
  if (!addon || (saved && !sameBytes(saved.subarray(0, 4), head))) return wasmState(await createMD5(), saved);
  return addonState(addon, addon.create(saved ? saved.subarray(4) : null), head);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
