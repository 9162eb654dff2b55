/**
 * Loads the SHA-256 addon built from native/sha256.c at install (scripts/build-native.mjs): a
 * SHA-256 computed by Node's own OpenSSL whose running state can be saved and loaded again (the
 * C file says why it is hand-written). Optional: where it was not built (no compiler, not Linux)
 * this is undefined, and a stream upload's SHA-256 is read back from its bytes at completion.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** A running SHA-256 is a Buffer the caller holds; native/sha256.c has the details. */
export interface Sha256Addon {
  /** A fresh state, or one loaded from save()'s bytes (throws RangeError on anything else). */
  create(saved?: Uint8Array | null): Buffer;
  update(ctx: Buffer, bytes: Uint8Array): void;
  /** The state in a form of its own (independent of OpenSSL's layout and of byte order). */
  save(ctx: Buffer): Buffer;
  /** The SHA-256 of every byte so far (32 bytes); the state stays usable. */
  digest(ctx: Buffer): Buffer;
}

function load(): Sha256Addon | undefined {
  if (process.platform !== 'linux') return undefined;
  // src/io and dist/io are both two levels below the package root.
  const path = join(import.meta.dirname, '..', '..', 'native', 'build', 'Release', 'rt_sha256.node');
  if (!existsSync(path)) return undefined;
  try {
    const addon = createRequire(import.meta.url)(path) as Partial<Record<keyof Sha256Addon, unknown>>;
    if (
      typeof addon.create !== 'function' ||
      typeof addon.update !== 'function' ||
      typeof addon.save !== 'function' ||
      typeof addon.digest !== 'function'
    )
      return undefined;
    return addon as Sha256Addon;
  } catch {
    return undefined;
  }
}

export const nativeSha256: Sha256Addon | undefined = load();

/**
 * How many bytes a state saved by save() has hashed (bytes 33..40 of its form: the bits hashed),
 * read without the addon; undefined for anything that is not such a state.
 */
export function sha256StateBytes(saved: Buffer): number | undefined {
  if (saved.length < 42 || saved[0] !== 1) return undefined;
  const bits = saved.readBigUInt64BE(33);
  return bits % 8n === 0n ? Number(bits / 8n) : undefined;
}
