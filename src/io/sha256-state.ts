/**
 * A running SHA-256 whose state can be saved and continued elsewhere, as io/md5-state.ts is for
 * the MD5: Node's OpenSSL through native/sha256.c where it was built (its own saved form), else
 * hash-wasm (hash-wasm's form; ~10× slower: native/sha256.c has the figures). A state saved by
 * hash-wasm (records written before, or by a process without the addon) is continued by
 * hash-wasm; one saved by the addon needs the addon.
 */
import { createSHA256 } from 'hash-wasm';
import { addonState, type HashState, wasmState } from './hash-state.js';
import { nativeSha256 } from './native-sha256.js';

let wasmForm: Promise<{ head: Uint8Array; length: number }> | undefined;
/** hash-wasm's saved form: its 4-byte prefix and its length. */
function wasmShape(): Promise<{ head: Uint8Array; length: number }> {
  wasmForm ??= createSHA256().then((h) => {
    const saved = h.init().save();
    return { head: saved.slice(0, 4), length: saved.length };
  });
  return wasmForm;
}

/** A fresh SHA-256, or one continuing a saved state (throws on bytes that are not one). */
export async function sha256State(saved: Uint8Array | null): Promise<HashState> {
  const shape = await wasmShape();
  const isWasm =
    saved !== null && saved.length === shape.length && shape.head.every((v, i) => v === saved[i]);
  if (isWasm || !nativeSha256) return wasmState(await createSHA256(), saved);
  return addonState(nativeSha256, nativeSha256.create(saved));
}
