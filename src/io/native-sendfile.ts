/**
 * Loads the sendfile addon built from native/sendfile.c at install (scripts/build-native.mjs).
 * Optional: where it was not built (no compiler, not Linux) or RESUMABLE_SENDFILE=off, this is
 * undefined and the range server copies bytes through user space as before.
 */
import { loadAddon } from './native-addon.js';

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
  if (process.env.RESUMABLE_SENDFILE === 'off') return undefined;
  const addon = loadAddon('rt_sendfile.node', ['sendfile', 'sendfileAsync']);
  if (!addon) return undefined;
  return { now: addon.sendfile as Sendfile['now'], pooled: addon.sendfileAsync as Sendfile['pooled'] };
}

export const nativeSendfile: Sendfile | undefined = load();
