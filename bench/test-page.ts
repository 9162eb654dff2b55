/**
 * A bench page bundled for headless Chromium: `entryPoints` (esbuild's, relative to the package
 * root; the page's own script named `page`) into `dir`, beside an index.html with one file input.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from './servers.js';

export async function buildTestPage(dir: string, entryPoints: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints,
    outdir: dir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    minify: true,
    logLevel: 'warning',
  });
  await writeFile(
    join(dir, 'index.html'),
    '<!doctype html><meta charset="utf-8"><body><input type="file"><script type="module" src="page.js"></script>',
  );
}
