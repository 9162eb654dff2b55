/**
 * Loads the SHA-256 addon built from native/sha256.c at install (scripts/build-native.mjs): a
 * SHA-256 computed by Node's own OpenSSL whose running state can be saved and loaded again (the
 * C file says why it is hand-written). Optional: where it was not built (no compiler, not Linux)
 * this is undefined, and a stream upload's SHA-256 is read back from its bytes at completion.
 */
import type { HashAddon } from './hash-state.js';
import { loadAddon } from './native-addon.js';

/** Its saved form is its own: independent of OpenSSL's layout and of byte order (native/sha256.c). */
export const nativeSha256 = loadAddon('rt_sha256.node', ['create', 'update', 'save', 'digest']) as
  | HashAddon
  | undefined;

/**
 * How many bytes a state saved by save() has hashed (bytes 33..40 of its form: the bits hashed),
 * read without the addon; undefined for anything that is not such a state.
 */
export function sha256StateBytes(saved: Buffer): number | undefined {
  if (saved.length < 42 || saved[0] !== 1) return undefined;
  const bits = saved.readBigUInt64BE(33);
  return bits % 8n === 0n ? Number(bits / 8n) : undefined;
}
