/**
 * Loads the sendfile addon built from native/sendfile.c at install (scripts/build-native.mjs).
 * Optional: where it was not built (no compiler, not Linux) or RESUMABLE_SENDFILE=off, this is
 * undefined and the range server copies bytes through user space as before.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The addon's two calls (native/sendfile.c has the details). */
export interface Sendfile {
  /** On the calling thread: up to `count` bytes of `inFd` from `position`; bytes sent or -errno. */
  now(outFd: number, inFd: number, position: number, count: number): number;
  /** On libuv's thread pool; the callback gets the bytes sent (0: the socket is full) or -errno. */
  pooled(
    outFd: number,
    inFd: number,
    position: number,
    count: number,
    callback: (result: number) => void,
  ): void;
}

function load(): Sendfile | undefined {
  if (process.env.RESUMABLE_SENDFILE === 'off' || process.platform !== 'linux') return undefined;
  // src/storage and dist/storage are both two levels below the package root.
  const path = join(import.meta.dirname, '..', '..', 'native', 'build', 'Release', 'rt_sendfile.node');
  if (!existsSync(path)) return undefined;
  try {
    const addon = createRequire(import.meta.url)(path) as { sendfile?: unknown; sendfileAsync?: unknown };
    if (typeof addon.sendfile !== 'function' || typeof addon.sendfileAsync !== 'function') return undefined;
    return { now: addon.sendfile as Sendfile['now'], pooled: addon.sendfileAsync as Sendfile['pooled'] };
  } catch {
    return undefined;
  }
}

export const nativeSendfile: Sendfile | undefined = load();
