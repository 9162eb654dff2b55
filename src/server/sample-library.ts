/**
 * The default library's sample wallpapers. Those in the per-machine cache are copied before the
 * server listens (milliseconds); any that must be rendered (a cold cache: ~13 s of CPU) are
 * written by a child process once the server listens, so a first `npm start` prints its URLs (or
 * its port-in-use error) at once. Files appear atomically as each is written (wallpapers.ts);
 * /api/files lists those present.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from './logger.js';
import { ensureWallpapers, WALLPAPER_COUNT, wallpaperName } from './wallpapers.js';

/** This module's extension: .ts when run from the sources (under tsx), .js from dist/. */
const EXT = extname(fileURLToPath(import.meta.url));

export interface SampleFill {
  /** Stops a fill still running (a graceful close). */
  stop(): Promise<void>;
}

/**
 * Creates dir and copies the cached wallpapers into it now; returns how to render the rest in a
 * child process, or undefined when none is missing.
 */
export async function prepareSampleLibrary(
  dir: string,
  logger: Logger,
): Promise<(() => SampleFill) | undefined> {
  await mkdir(dir, { recursive: true });
  const copied = await ensureWallpapers(dir, { render: false });
  if (copied.length > 0) logger.info({ dir, created: copied.length }, 'copied sample wallpapers');
  const present = await readdir(dir);
  const missing = Array.from({ length: WALLPAPER_COUNT }, (_, i) => wallpaperName(i + 1)).filter(
    (name) => !present.includes(name),
  );
  return missing.length > 0 ? () => startFill(dir, logger) : undefined;
}

function startFill(dir: string, logger: Logger): SampleFill {
  const script = fileURLToPath(new URL(`./wallpapers-fill${EXT}`, import.meta.url));
  // From the sources the child needs tsx's loader, as the tests and the CLI under tsx do.
  const loader = EXT === '.ts' ? ['--import', import.meta.resolve('tsx')] : [];
  const child: ChildProcess = spawn(process.execPath, [...loader, script, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    err = (err + b.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('close', (code, signal) => {
      if (code === 0) {
        const created = parseCreated(out);
        logger.info({ dir, created }, 'sample wallpapers ready');
      } else if (!signal) {
        logger.warn({ dir, code, stderr: err.trim() }, 'sample wallpapers could not be written');
      }
      resolve();
    });
    child.once('error', (e: Error) => {
      logger.warn({ dir, err: e }, 'sample wallpapers could not be written');
      resolve();
    });
  });
  child.unref();
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function parseCreated(out: string): number {
  try {
    const names: unknown = JSON.parse(out.trim() || '[]');
    return Array.isArray(names) ? names.length : 0;
  } catch {
    return 0;
  }
}
