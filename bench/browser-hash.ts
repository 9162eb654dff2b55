/**
 * Browser hashing throughput in headless Chromium (Debian's): our hash-worker pipeline vs
 * spark-md5, same Blob, same page. The page and the worker are bundled with esbuild into a temp
 * folder and served by a few lines of node:http.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { launchChromium } from '../test/helpers/browser.js';
import { ROOT } from './servers.js';

type Run = () => Promise<{ ms: number; fileId: string }>;
interface BenchPage {
  benchOurs: Run;
  benchSpark: Run;
}

/** `file`: the file to hash (picked through the page's file input, as a user would). */
export async function browserHashing(
  dir: string,
  file: string,
  size: number,
  runs: number,
): Promise<{ ours: number[]; spark: number[] }> {
  await build({
    absWorkingDir: ROOT,
    entryPoints: { page: 'bench/browser-hash-page.ts', 'hash-worker': 'src/client/browser/hash-worker.ts' },
    outdir: dir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    minify: true,
    logLevel: 'warning',
  });
  await writeFile(
    join(dir, 'index.html'),
    '<!doctype html><body><input type="file"><script type="module" src="page.js"></script>',
  );
  const types: Record<string, string> = { html: 'text/html', js: 'text/javascript' };
  const server = createServer((req, res) => {
    const name = (req.url ?? '/') === '/' ? 'index.html' : (req.url ?? '').slice(1);
    if (!/^[a-z-]+\.(html|js)$/.test(name)) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(dir, name)).then(
      (body) => res.writeHead(200, { 'content-type': types[name.split('.').pop()!]! }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    await page.setInputFiles('input', file);
    const ours: number[] = [];
    const spark: number[] = [];
    for (let i = 0; i < runs; i++) {
      const a = await page.evaluate(() => (globalThis as unknown as BenchPage).benchOurs());
      const b = await page.evaluate(() => (globalThis as unknown as BenchPage).benchSpark());
      if (a.fileId !== b.fileId) throw new Error(`MD5s differ: ours ${a.fileId}, spark-md5 ${b.fileId}`);
      ours.push(size / 1e6 / (a.ms / 1000));
      spark.push(size / 1e6 / (b.ms / 1000));
    }
    return { ours, spark };
  } finally {
    await browser.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}
