/**
 * Uppy (@uppy/core + @uppy/tus + @uppy/dashboard) in real headless Chromium, uploading several
 * files to our tus endpoint: through the Dashboard's file input and buttons, paused and resumed,
 * and the page reloaded mid-upload, after which the same files added again resume from Uppy's
 * fingerprint store (localStorage). Each result is byte-exact at /upload/<md5>.bin and then
 * 秒传-able through the seed handshake.
 *
 * The page (test/uppy/page.ts, bundled here with esbuild) is served by a little static server of
 * its own: another origin than the tus endpoint, as when a site embeds Uppy, so every tus
 * request is cross-origin and must get through CORS (preflights, exposed headers). The endpoint
 * is reached through a proxy that slows the PATCHes, so there is a middle to pause and reload in.
 * Chromium does not abort a page's uploads on reload: the last PATCH of the old page crawls on,
 * and the new page's PATCH of that upload meets its lock (409 UPLOAD_BUSY), which Uppy retries.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, needChromium, screenshot } from './helpers/browser.js';
import { writeRandomFile } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';
import { staticServer } from './helpers/static-files.js';
import { startThrottleProxy, type ThrottleProxy } from './helpers/throttle-proxy.js';

const skip = needChromium();
/** Bytes per second for each PATCH: three files of ~3 MB take ~10 s each. */
const RATE = 300_000;

interface Seen {
  method: string;
  path: string;
  offset: string | undefined;
}

async function md5Of(res: Response): Promise<string> {
  return createHash('md5')
    .update(new Uint8Array(await res.arrayBuffer()))
    .digest('hex');
}

describe('Uppy in Chromium against the tus endpoint', { skip, timeout: 240_000 }, () => {
  let server: TestServer;
  let proxy: ThrottleProxy;
  let page: { url: string; server: Server };
  let browser: Browser;
  let dir: string;
  const seen: Seen[] = [];

  before(async () => {
    dir = await tempDir('rt-uppy-');
    const pageDir = join(dir, 'page');
    await build({
      entryPoints: { page: new URL('uppy/page.ts', import.meta.url).pathname },
      outdir: pageDir,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome110'],
      logLevel: 'warning',
    });
    await writeFile(
      join(pageDir, 'index.html'),
      '<!doctype html><html><head><meta charset="utf-8"><title>Uppy</title>' +
        '<link rel="stylesheet" href="page.css"></head>' +
        '<body><div id="uppy"></div><script type="module" src="page.js"></script></body></html>',
    );
    page = await staticServer(pageDir);
    server = await startTestServer({ logLevel: 'error' });
    proxy = await startThrottleProxy(server.url, (req: IncomingMessage) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path.startsWith('/files')) {
        const offset = req.headers['upload-offset'];
        seen.push({
          method: req.method ?? '',
          path,
          offset: typeof offset === 'string' ? offset : undefined,
        });
      }
      return req.method === 'PATCH' ? RATE : 0;
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.close();
    await new Promise((resolve) => page?.server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('the tus answers expose their headers to another origin (CORS)', async () => {
    const origin = page.url;
    const preflight = await fetch(`${server.url}/files/`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'tus-resumable, upload-length, upload-metadata',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /PATCH/);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /upload-metadata/);
    const created = await fetch(`${server.url}/files/`, {
      method: 'POST',
      headers: { origin, 'tus-resumable': '1.0.0', 'upload-length': '3' },
    });
    assert.equal(created.status, 201);
    const exposed = (created.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    for (const name of ['location', 'upload-offset', 'upload-length', 'tus-resumable', 'upload-metadata'])
      assert.ok(exposed.split(/,\s*/).includes(name), `${name} is exposed: ${exposed}`);
  });

  it('several files: paused and resumed, the page reloaded mid-upload and resumed from localStorage; byte-exact, then 秒传', async () => {
    const sizes = [3_000_000, 3_123_457, 2_876_543];
    const files = await Promise.all(
      sizes.map(async (size, i) => {
        const path = join(dir, `uppy-${i}.bin`);
        return { path, name: `uppy-${i}.bin`, fileId: await writeRandomFile(path, size, 90 + i) };
      }),
    );
    const total = sizes.reduce((sum, size) => sum + size, 0);
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const tab = await context.newPage();
    tab.on('pageerror', (err) => console.error('page error:', err));
    const open = async () => {
      await tab.goto(`${page.url}/?endpoint=${encodeURIComponent(`${proxy.url}/files/`)}`);
      await tab.waitForSelector('body[data-ready="true"]');
    };
    const sent = async (p: Page) =>
      (await p.evaluate(() => (window as unknown as { uploaded(): { bytes: number }[] }).uploaded())).reduce(
        (sum, f) => sum + f.bytes,
        0,
      );
    const waitSent = (bytes: number) =>
      tab.waitForFunction(
        (b) =>
          (window as unknown as { uploaded(): { bytes: number }[] })
            .uploaded()
            .reduce((sum, f) => sum + f.bytes, 0) >= b,
        bytes,
        { timeout: 60_000, polling: 100 },
      );
    const addAndStart = async () => {
      await tab.setInputFiles(
        'input.uppy-Dashboard-input[name="files[]"]',
        files.map((f) => f.path),
      );
      await tab.click('.uppy-StatusBar-actionBtn--upload');
    };

    await open();
    await addAndStart();
    await waitSent(total * 0.15);

    // Pause with the Dashboard's button: nothing more is sent until it is pressed again.
    await tab.click('[data-cy="togglePauseResume"]');
    await tab.waitForFunction(() => (window as unknown as { paused(): boolean[] }).paused().every(Boolean));
    const patchesAtPause = seen.filter((s) => s.method === 'PATCH').length;
    const sentAtPause = await sent(tab);
    await screenshot(tab, 'uppy-paused');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(seen.filter((s) => s.method === 'PATCH').length, patchesAtPause, 'no PATCH while paused');
    assert.equal(await sent(tab), sentAtPause, 'no progress while paused');
    await tab.click('[data-cy="togglePauseResume"]');
    await waitSent(sentAtPause + total * 0.15);

    // Reload mid-upload, then the same files again: each resumes from its stored upload URL.
    const creations = seen.filter((s) => s.method === 'POST').length;
    assert.equal(creations, files.length, 'one creation per file');
    const reloadedAt = seen.length;
    await tab.reload();
    await tab.waitForSelector('body[data-ready="true"]');
    await addAndStart();
    await tab.waitForFunction(
      () => (window as unknown as { uploadState: { complete: unknown } }).uploadState.complete,
      null,
      {
        timeout: 120_000,
        polling: 200,
      },
    );
    const result = await tab.evaluate(
      () =>
        (window as unknown as { uploadState: { complete: { successful: number; failed: string[] } } })
          .uploadState.complete,
    );
    assert.deepEqual(result, { successful: files.length, failed: [] });
    await screenshot(tab, 'uppy-done');
    await context.close();

    const afterReload = seen.slice(reloadedAt);
    assert.equal(afterReload.filter((s) => s.method === 'POST').length, 0, 'no new upload after the reload');
    const uploads = new Set(afterReload.filter((s) => s.method === 'PATCH').map((s) => s.path));
    assert.equal(uploads.size, files.length, 'every upload went on after the reload');
    for (const path of uploads) {
      const first = afterReload.find((s) => s.method === 'PATCH' && s.path === path);
      assert.ok(Number(first?.offset) > 0, `${path} resumed at ${first?.offset}, not from the start`);
    }

    for (const f of files) {
      const got = await fetch(`${server.url}/upload/${f.fileId}.bin`);
      assert.equal(got.status, 200, f.name);
      assert.equal(await md5Of(got), f.fileId, `${f.name} is byte-exact`);
      const hs = await fetch(`${server.url}/api/upload/handshake`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fileId: f.fileId, ext: '.bin', chunkIds: [f.fileId] }),
      });
      const answer = (await hs.json()) as { code: number; data: unknown };
      assert.equal(answer.code, 0, `${f.name}: 秒传`);
      assert.equal(answer.data, `${server.url}/upload/${f.fileId}.bin`);
    }
  });
});
