/**
 * The web page in real headless Chromium (Debian's, driven by playwright-core): uploads through
 * the file chooser with pause, resume and a reload in the middle, instant upload, a download that
 * survives a reload, and both languages. The page is loaded through a proxy that slows only the
 * chunk uploads or the wallpaper's ranged downloads, so there is a middle to act in. Screenshots
 * of the main states go to test-artifacts/screenshots/.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildWeb } from '../scripts/build-web.js';
import { launchChromium, needChromium, screenshot } from './helpers/browser.js';
import { md5, md5File, writeRandomFile } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';
import { startThrottleProxy, type ThrottleProxy } from './helpers/throttle-proxy.js';

const MB = 1_000_000;
const skip = needChromium();

describe('web page in Chromium', { skip, timeout: 480_000 }, () => {
  let server: TestServer;
  let proxy: ThrottleProxy;
  let browser: Browser;
  let dir: string;
  let webDir: string;

  before(async () => {
    dir = await tempDir('rt-web-');
    webDir = join(dir, 'web-dist');
    await buildWeb(webDir); // the page under test is built from the sources under test
    server = await startTestServer({ webDir, libraryDirs: null });
    proxy = await startThrottleProxy(server.url);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function open(locale = 'en-US'): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({
      locale,
      acceptDownloads: true,
      viewport: { width: 1100, height: 900 },
    });
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err));
    await page.goto(proxy.url);
    await page.waitForSelector('body[data-ready="true"]');
    return { context, page };
  }

  const row = (page: Page, name: string) => page.locator('#upload-list .row', { hasText: name });

  async function waitState(page: Page, name: string, states: string[], timeout = 60_000): Promise<string> {
    const handle = await page
      .waitForFunction(
        ([n, s]) => {
          const el = [...document.querySelectorAll<HTMLElement>('#upload-list .row')].find((r) =>
            r.textContent?.includes(n as string),
          );
          return el && (s as string[]).includes(el.dataset.state ?? '') ? el.dataset.state : false;
        },
        [name, states] as const,
        { timeout, polling: 50 },
      )
      .catch(async (err: unknown) => {
        const state = await page.locator('#upload-list').innerHTML();
        throw new Error(`${String(err)}\n${state}`);
      });
    return (await handle.jsonValue()) as string;
  }

  async function waitUploaded(page: Page, name: string, fraction: number): Promise<void> {
    await page.waitForFunction(
      ([n, f]) => {
        const el = [...document.querySelectorAll<HTMLElement>('#upload-list .row')].find((r) =>
          r.textContent?.includes(n as string),
        );
        return el?.dataset.state === 'uploading' && Number(el.dataset.done) >= (f as number);
      },
      [name, fraction] as const,
      { timeout: 60_000, polling: 50 },
    );
  }

  async function linkMd5(page: Page, name: string): Promise<string> {
    const url = await row(page, name).getAttribute('data-url');
    assert.ok(url, 'the row carries the link');
    const res = await fetch(new URL(url, server.url));
    assert.equal(res.status, 200);
    return md5(new Uint8Array(await res.arrayBuffer()));
  }

  /** Clicks a card's Download and returns the MD5 of the file the browser saved. */
  async function savedMd5(page: Page, name: string): Promise<string> {
    const saved = page.waitForEvent('download', { timeout: 30_000 });
    await page.locator(`.card[data-name="${name}"] [data-action="download"]`).click();
    return md5(await readFile((await (await saved).path())!));
  }

  it('uploads a 50 MB file chosen with the file chooser; the link serves the same bytes', async () => {
    const path = join(dir, 'fifty.bin');
    const fileId = await writeRandomFile(path, 50 * MB, 11);
    const { context, page } = await open();
    const chooser = page.waitForEvent('filechooser');
    await page.click('#choose');
    await (await chooser).setFiles(path);
    assert.equal(await waitState(page, 'fifty.bin', ['done', 'error']), 'done');
    assert.match((await row(page, 'fifty.bin').locator('.row-status').textContent()) ?? '', /Uploaded/);
    assert.equal(await linkMd5(page, 'fifty.bin'), fileId);
    assert.equal(await page.locator('#upload-overall').textContent(), '1 of 1 file · 47.7 MB of 47.7 MB');
    await screenshot(page, 'upload-done-en');

    // The same file again: instant upload, shown as such.
    await page.setInputFiles('#file-input', path);
    await page.waitForFunction(() => document.querySelectorAll('#upload-list .row').length === 2);
    const second = page.locator('#upload-list .row').nth(1);
    await second.locator('[data-action="copy"]').waitFor({ timeout: 30_000 });
    assert.equal(await second.getAttribute('data-state'), 'instant');
    assert.equal(await second.getAttribute('data-bytes-sent'), '0');
    assert.match((await second.locator('.row-status').textContent()) ?? '', /Instant upload/);
    await screenshot(page, 'upload-instant-en');
    await context.close();
  });

  it('pauses mid-upload, resumes, and finishes with the right bytes', async () => {
    const path = join(dir, 'pause.bin');
    const fileId = await writeRandomFile(path, 50 * MB, 12);
    proxy.rule = (req) => (req.method === 'POST' && req.url?.startsWith('/api/upload?') ? 2 * MB : 0);
    const { context, page } = await open();
    await page.setInputFiles('#file-input', path);
    await waitUploaded(page, 'pause.bin', 8 * MB);
    await row(page, 'pause.bin').locator('[data-action="pause"]').click();
    assert.equal(await waitState(page, 'pause.bin', ['paused']), 'paused');
    await screenshot(page, 'upload-paused-en');
    const heldAtPause = Number(await row(page, 'pause.bin').getAttribute('data-done'));
    const sentAtPause = proxy.chunkBytes;
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(proxy.chunkBytes - sentAtPause < 5 * 4 * 1024 * 1024, 'nothing new is started while paused');
    assert.ok(heldAtPause < 50 * MB);
    await row(page, 'pause.bin').locator('[data-action="resume"]').click();
    assert.equal(await waitState(page, 'pause.bin', ['done', 'error']), 'done');
    assert.equal(await row(page, 'pause.bin').getAttribute('data-hash-cached'), 'true', 'not hashed again');
    assert.ok(Number(await row(page, 'pause.bin').getAttribute('data-bytes-sent')) < 50 * MB);
    assert.equal(await linkMd5(page, 'pause.bin'), fileId);
    proxy.rule = () => 0;
    await context.close();
  });

  it('a reload mid-upload: picking the same file continues without hashing again', async () => {
    const path = join(dir, 'reload.bin');
    const size = 50 * MB;
    const fileId = await writeRandomFile(path, size, 13);
    const chunkAt = (rate: number) => (req: IncomingMessage) =>
      req.method === 'POST' && req.url?.startsWith('/api/upload?') ? rate : 0;
    proxy.rule = chunkAt(2 * MB);
    const { context, page } = await open();
    await page.setInputFiles('#file-input', path);
    await waitUploaded(page, 'reload.bin', 20 * MB);
    // New chunks crawl until the reload, so the upload cannot finish while a loaded machine takes
    // the screenshot (the row's 20 MB lags what the proxy relayed; the chunks in flight are at
    // most 16 MB). Not slower: Chromium does not abort a page's chunk uploads on reload, and the
    // server's assembly waits up to 10 s for such a leftover copy before it cuts it.
    proxy.rule = chunkAt(256 * 1024);
    await screenshot(page, 'upload-progress-en');
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    proxy.rule = chunkAt(2 * MB);
    const before = proxy.chunkBytes;
    let hashingSeen = false;
    await page.exposeFunction('sawHashing', () => {
      hashingSeen = true;
    });
    await page.evaluate(() => {
      new MutationObserver(() => {
        if (document.querySelector('#upload-list .row[data-state="hashing"][data-done]:not([data-done="0"])'))
          (window as unknown as { sawHashing: () => void }).sawHashing();
      }).observe(document.body, { subtree: true, attributes: true });
    });
    await page.setInputFiles('#file-input', path);
    assert.equal(await waitState(page, 'reload.bin', ['done', 'error']), 'done');
    const sentAfterReload = proxy.chunkBytes - before;
    assert.equal(await row(page, 'reload.bin').getAttribute('data-hash-cached'), 'true');
    assert.equal(hashingSeen, false, 'no hashing progress after the reload');
    const bytesSent = Number(await row(page, 'reload.bin').getAttribute('data-bytes-sent'));
    assert.ok(bytesSent < size - 10 * MB, `only the rest is sent (${bytesSent} bytes)`);
    assert.ok(sentAfterReload < size - 10 * MB, `the proxy saw ${sentAfterReload} chunk bytes`);
    assert.equal(await linkMd5(page, 'reload.bin'), fileId);
    proxy.rule = () => 0;
    await context.close();
  });

  it('downloads a wallpaper through the page with a reload in the middle; the saved bytes are exact', async () => {
    const name = 'Wallpaper3.jpg';
    const expected = await md5File(join(server.dataDir, 'library', name));
    const size = (await readFile(join(server.dataDir, 'library', name))).length;
    // Only the client's ranged fetches crawl; the thumbnails load at full speed.
    proxy.rule = (req) => (req.url === `/download/${name}` && req.headers.range ? 100_000 : 0);
    const { context, page } = await open();
    const card = page.locator(`.card[data-name="${name}"]`);
    await card.locator('img').evaluate((img: HTMLImageElement) => img.decode());
    await screenshot(page, 'download-library-en');
    await card.locator('[data-action="download"]').click();
    const rowSel = '#download-list .row';
    await page.waitForFunction(
      (s) => Number(document.querySelector<HTMLElement>(s)?.dataset.done) > 300_000,
      rowSel,
      {
        timeout: 30_000,
      },
    );
    await new Promise((r) => setTimeout(r, 1200)); // past a checkpoint (every second in the browser)
    await screenshot(page, 'download-progress-en');
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    // Listed again, continuing from what is stored.
    const resumedFrom = Number(await page.locator(rowSel).getAttribute('data-resumed-from'));
    assert.ok(resumedFrom > 200_000 && resumedFrom < size, `resumed from ${resumedFrom} of ${size}`);
    const saved = await page.waitForEvent('download', { timeout: 60_000 });
    assert.equal(saved.suggestedFilename(), name);
    const bytes = await readFile((await saved.path())!);
    assert.equal(bytes.length, size);
    assert.equal(md5(bytes), expected);
    await page.waitForSelector(`${rowSel}[data-state="done"]`);
    await screenshot(page, 'download-done-en');
    // Saved: a later visit does not list it again, and its stored copy is removed.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.locator(rowSel).count(), 0);
    const stored = await page.waitForFunction(async () => {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle('resumable-transfer-downloads');
      const names: string[] = [];
      for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
      return names.length === 0 ? 'empty' : false;
    });
    assert.equal(await stored.jsonValue(), 'empty');
    proxy.rule = () => 0;
    await context.close();
  });

  it('a refused upload shows the server message on its row, with cancel and no retry', async () => {
    // A second server that refuses files over 1 MiB (a chunk limit no longer refuses us: the
    // client fits its chunks to the limit /api/version states).
    const strict = await startTestServer({ webDir, maxFileSize: 1024 * 1024 });
    const context = await browser.newContext({ locale: 'en-US' });
    try {
      const page = await context.newPage();
      await page.goto(strict.url);
      await page.waitForSelector('body[data-ready="true"]');
      const path = join(dir, 'refused.bin');
      await writeRandomFile(path, 6 * MB, 15);
      await page.setInputFiles('#file-input', path);
      assert.equal(await waitState(page, 'refused.bin', ['error', 'done']), 'error');
      const status = (await row(page, 'refused.bin').locator('.row-status').textContent()) ?? '';
      assert.equal(status, 'Failed: The file is larger than this server accepts.');
      // A 413 answers the same every time: no Retry (retries are for network and 5xx failures).
      assert.equal(await row(page, 'refused.bin').locator('[data-action="retry"]').count(), 0);
      assert.equal(await row(page, 'refused.bin').locator('[data-action="cancel"]').count(), 1);
      await screenshot(page, 'upload-error-en');
      // On a phone the whole message is still there to read: it wraps, it is not cut.
      await page.setViewportSize({ width: 390, height: 844 });
      const cut = await row(page, 'refused.bin')
        .locator('.row-status')
        .evaluate((el) => el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight);
      assert.equal(cut, false, 'the error message is shown whole');
      await screenshot(page, 'upload-error-phone-en');
      await row(page, 'refused.bin').locator('[data-action="cancel"]').click();
      assert.equal(await page.locator('#upload-list .row').count(), 0, 'cancel removes the row');
    } finally {
      await context.close();
      await strict.close();
    }
  });

  it('hashes the MD5s and the SHA-256 in two workers at once; the link names the file by both (--instant-upload off)', async () => {
    const off = await startTestServer({ webDir, instantUpload: 'off' });
    const context = await browser.newContext({ locale: 'en-US' });
    try {
      const page = await context.newPage();
      // Counts the page's hashing workers (the download worker is not started by an upload).
      await page.addInitScript(() => {
        const Original = Worker;
        const counted = globalThis as unknown as { workers: string[] };
        counted.workers = [];
        globalThis.Worker = class extends Original {
          constructor(url: string | URL, options?: WorkerOptions) {
            super(url, options);
            counted.workers.push(String(url));
          }
        };
      });
      await page.goto(off.url);
      await page.waitForSelector('body[data-ready="true"]');
      const path = join(dir, 'two-workers.bin');
      const fileId = await writeRandomFile(path, 9 * MB, 21);
      const sha256 = createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
      await page.setInputFiles('#file-input', path);
      assert.equal(await waitState(page, 'two-workers.bin', ['done', 'error']), 'done');
      const url = await row(page, 'two-workers.bin').getAttribute('data-url');
      // The server checks the declared SHA-256 against its own before it publishes (422 if not).
      assert.equal(new URL(url ?? '', off.url).pathname, `/upload/${fileId}-${sha256.slice(0, 32)}.bin`);
      const workers = await page.evaluate(() => (globalThis as unknown as { workers: string[] }).workers);
      assert.equal(workers.filter((u) => u.includes('hash-worker')).length, 2, workers.join(' '));
    } finally {
      await context.close();
      await off.close();
    }
  });

  it('without OPFS, downloads go to memory and the page says so', async () => {
    const context = await browser.newContext({ locale: 'en-US', acceptDownloads: true });
    try {
      // A browser without the Origin Private File System.
      await context.addInitScript(() => {
        Object.defineProperty(StorageManager.prototype, 'getDirectory', { value: undefined });
      });
      const page = await context.newPage();
      await page.goto(proxy.url);
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.locator('#download-note').isVisible(), true);
      assert.match((await page.locator('#download-note').textContent()) ?? '', /kept in memory/);
      const name = 'Wallpaper5.jpg';
      assert.equal(await savedMd5(page, name), await md5File(join(server.dataDir, 'library', name)));
      await screenshot(page, 'download-memory-en');
    } finally {
      await context.close();
    }
  });

  it('without Web Workers, the page hashes on its own thread, uploads and downloads (in memory)', async () => {
    const context = await browser.newContext({ locale: 'en-US', acceptDownloads: true });
    try {
      await context.addInitScript(() => {
        Object.defineProperty(globalThis, 'Worker', { value: undefined, configurable: true });
      });
      const page = await context.newPage();
      page.on('pageerror', (err) => console.error('page error:', err));
      await page.goto(proxy.url);
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.evaluate(() => typeof Worker), 'undefined');
      const path = join(dir, 'no-worker.bin');
      const fileId = await writeRandomFile(path, 9 * MB, 16);
      await page.setInputFiles('#file-input', path);
      assert.equal(await waitState(page, 'no-worker.bin', ['done', 'error']), 'done');
      assert.equal(await linkMd5(page, 'no-worker.bin'), fileId);
      // OPFS exists in this browser, but its download target needs a Worker: memory, said so.
      assert.equal(await page.locator('#download-note').isVisible(), true);
      const name = 'Wallpaper6.jpg';
      assert.equal(await savedMd5(page, name), await md5File(join(server.dataDir, 'library', name)));
    } finally {
      await context.close();
    }
  });

  it('speaks Chinese to a Chinese browser and English to others, with a switch', async () => {
    const zh = await open('zh-CN');
    assert.equal(await zh.page.locator('#upload-heading').textContent(), '上传');
    assert.equal(await zh.page.locator('#download-heading').textContent(), '下载');
    assert.equal(await zh.page.getAttribute('html', 'lang'), 'zh-CN');
    const path = join(dir, 'small.bin');
    await writeRandomFile(path, 3 * MB, 14);
    await zh.page.setInputFiles('#file-input', path);
    await zh.page.locator('#upload-list .row[data-state="done"]').waitFor({ timeout: 30_000 });
    assert.match((await zh.page.locator('#upload-list .row-status').textContent()) ?? '', /上传完成/);
    await zh.page.setInputFiles('#file-input', path);
    await zh.page.locator('#upload-list .row[data-state="instant"]').waitFor({ timeout: 30_000 });
    assert.match((await zh.page.locator('#upload-list .row-status').nth(1).textContent()) ?? '', /秒传/);
    await screenshot(zh.page, 'page-zh');
    await zh.page.click('#lang');
    assert.equal(await zh.page.locator('#upload-heading').textContent(), 'Upload');
    assert.match(
      (await zh.page.locator('#upload-list .row-status').nth(1).textContent()) ?? '',
      /Instant upload/,
    );
    assert.equal(await zh.page.locator('#upload-list .row-status').first().textContent(), 'Uploaded');
    await zh.context.close();

    const en = await open('en-US');
    assert.equal(await en.page.locator('#upload-heading').textContent(), 'Upload');
    assert.equal(await en.page.locator('#lang').textContent(), 'EN / 中文');
    await screenshot(en.page, 'page-en');
    await en.context.close();
  });
});
