/**
 * Loads the sendfile addon built from native/sendfile.c at install (scripts/build-native.mjs).
 * Optional: where it was not built (no compiler, not Linux) or RESUMABLE_SENDFILE=off, this is
 * undefined and the range server copies bytes through user space as before.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export type SendfileFn = (outFd: number, inFd: number, position: number, count: number) => number;

function load(): SendfileFn | undefined {
  if (process.env.RESUMABLE_SENDFILE === 'off' || process.platform !== 'linux') return undefined;
  // src/storage and dist/storage are both two levels below the package root.
  const path = join(import.meta.dirname, '..', '..', 'build', 'Release', 'rt_sendfile.node');
  if (!existsSync(path)) return undefined;
  try {
    const addon = createRequire(import.meta.url)(path) as { sendfile?: unknown };
    return typeof addon.sendfile === 'function' ? (addon.sendfile as SendfileFn) : undefined;
  } catch {
    return undefined;
  }
}

export const nativeSendfile: SendfileFn | undefined = load();
