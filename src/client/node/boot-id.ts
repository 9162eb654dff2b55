/**
 * This boot of the machine, as Linux names it: /proc/sys/kernel/random/boot_id, a random UUID
 * made at every boot. A download's frequent progress record is written without fsync, so it
 * outlives a killed process (the page cache survives it) but maybe not a machine crash: it is
 * trusted only within the boot that wrote it. Where there is no boot id (macOS, Windows, a
 * sandbox without /proc) this is undefined, and only the durable record is kept and trusted.
 */
import { readFile } from 'node:fs/promises';

const BOOT_ID = '/proc/sys/kernel/random/boot_id';

let cached: Promise<string | undefined> | undefined;

/** The boot id (read once per process), or undefined where the system has none to read. */
export function bootId(): Promise<string | undefined> {
  cached ??= readFile(BOOT_ID, 'utf8').then(
    (s) => s.trim() || undefined,
    () => undefined,
  );
  return cached;
}
