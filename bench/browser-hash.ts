/**
 * Browser hashing throughput in headless Chromium (Debian's): our hash-worker pipeline vs
 * spark-md5, same File, same page. The page and the worker are bundled with esbuild into a temp
 * folder, served as the web folder of our own server.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer } from '../src/server/index.js';
import { launchChromium } from '../test/helpers/browser.js';
import { buildTestPage } from './test-page.js';

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
  await buildTestPage(join(dir, 'web'), {
    page: 'bench/browser-hash-page.ts',
    'hash-worker': 'src/client/browser/hash-worker.ts',
  });
  const web = join(dir, 'web');
  await mkdir(join(dir, 'lib'), { recursive: true });
  const server = await startServer({
    port: 0,
    dataDir: join(dir, 'data'),
    libraryDirs: [join(dir, 'lib')],
    webDir: web,
    logLevel: 'silent',
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    await page.setInputFiles('input', file);
    const ours: number[] = [];
    const spark: number[] = [];
    // One untimed run of each: the first compiles the workers' code and fills the caches.
    await page.evaluate(() => (globalThis as unknown as BenchPage).benchOurs());
    await page.evaluate(() => (globalThis as unknown as BenchPage).benchSpark());
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
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}
