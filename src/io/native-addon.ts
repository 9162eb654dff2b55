/**
 * Loads one of the optional addons built from native/ at install (scripts/build-native.mjs), or
 * undefined where it was not built (no compiler, not Linux) or does not offer the calls expected:
 * every caller has a slower way without it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export function loadAddon(file: string, calls: readonly string[]): Record<string, unknown> | undefined {
  if (process.platform !== 'linux') return undefined;
  // src/io and dist/io are both two levels below the package root.
  const path = join(import.meta.dirname, '..', '..', 'native', 'build', 'Release', file);
  if (!existsSync(path)) return undefined;
  try {
    const addon = createRequire(import.meta.url)(path) as Record<string, unknown>;
    return calls.every((name) => typeof addon[name] === 'function') ? addon : undefined;
  } catch {
    return undefined;
  }
}
