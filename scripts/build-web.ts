/**
 * Builds the web page into web/dist (run by `npm run build`, hence by `npm install`): the page
 * and the two workers of the browser client as separate ES modules side by side, so the client's
 * `new URL('./hash-worker.js', import.meta.url)` finds them, plus the HTML, the CSS and the icon.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url);

/**
 * Builds into `outDir` (default web/dist), emptied first. Tests build into a folder of their own:
 * two test files building web/dist at once emptied it under each other's browser.
 */
export async function buildWeb(outDir = new URL('web/dist/', root).pathname): Promise<void> {
  const out = pathToFileURL(`${outDir.replace(/\/+$/, '')}/`);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await build({
    absWorkingDir: root.pathname,
    entryPoints: {
      main: 'web/src/main.ts',
      'hash-worker': 'src/client/browser/hash-worker.ts',
      'download-worker': 'src/client/browser/download-worker.ts',
    },
    outdir: out.pathname,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'styles.css', 'favicon.svg'])
    await copyFile(new URL(`web/src/${f}`, root), new URL(f, out));
}

if (process.argv[1]?.endsWith('build-web.ts')) await buildWeb();
