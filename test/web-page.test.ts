/**
 * The web page's details a new user met (issue 20, point 14), in real headless Chromium: a favicon
 * and a load without a console error, failed request or CSP violation (with an upload and a
 * download, so the workers and WebAssembly run under the server's CSP); non-image files drawn as
 * an icon with their extension; one size format everywhere; upload links kept across reloads in
 * IndexedDB until cleared; a language switch that reads without a Chinese font; Retry only for
 * failures a retry can mend; and a row that stops claiming a live speed once the server is gone.
 * The page's pure helpers (size format, retry rule, stall rule) are checked in Node first.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { buildWeb } from '../scripts/build-web.js';
import { TransferError } from '../src/protocol/errors.js';
import { duration, size, speed } from '../web/src/format.js';
import { canRetry } from '../web/src/retry.js';
import { PROBE_EVERY_MS, STALL_MAX_MS, STALL_MIN_MS, StallWatch } from '../web/src/stall.js';
import { CHROMIUM, launchChromium, needChromium, screenshot } from './helpers/browser.js';
import { md5, md5File, writeRandomFile } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';
import { startThrottleProxy, type ThrottleProxy } from './helpers/throttle-proxy.js';

const MB = 1_000_000;
/** A 2×2 PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==',
  'base64',
);
/** One size format: whole bytes below 1000, else one decimal and at most three digits before it. */
const SIZE = /^(\d{1,3} B|\d{1,3}\.\d [KMGTP]B)$/;

describe('page helpers', () => {
  it('formats every size one way: no "1001 KB" beside "1.0 MB"', () => {
    const cases: [number, string][] = [
      [0, '0 B'],
      [999, '999 B'],
      [1000, '1.0 KB'],
      [1536, '1.5 KB'],
      [1001 * 1024, '1.0 MB'],
      [1024 * 1024, '1.0 MB'],
      [999.9 * 1024 * 1024, '999.9 MB'],
      [999.97 * 1024 * 1024, '1.0 GB'],
      [50 * MB, '47.7 MB'],
      [5 * 1024 ** 4, '5.0 TB'],
    ];
    for (const [n, text] of cases) assert.equal(size(n), text, String(n));
    for (let n = 1; n < 2 ** 45; n = Math.ceil(n * 1.37)) assert.match(size(n), SIZE, String(n));
    assert.equal(speed(1_234_567), '1.2 MB/s');
    assert.equal(duration(75), '1 min 15 s');
  });

  it('offers Retry only for failures a retry can mend', () => {
    const yes = [
      new TransferError('NETWORK'),
      new TransferError('INTERNAL'),
      new TransferError('SHUTTING_DOWN'),
      new TransferError('INSUFFICIENT_STORAGE'),
      new TransferError('BODY_TOO_SLOW'),
      new TransferError('TOO_MANY_UPLOADS'),
      new TransferError('REMOTE_CHANGED'),
      new TransferError('RETRIES_EXHAUSTED', 'gave up', { status: 0 }),
      new TransferError('RETRIES_EXHAUSTED', 'gave up', { status: 503 }),
      new TransferError('BAD_RESPONSE', 'HTTP 502', { status: 502 }),
    ];
    const no = [
      new TransferError('FILE_TOO_LARGE'),
      new TransferError('CHUNK_TOO_LARGE'),
      new TransferError('UNAUTHORIZED'),
      new TransferError('FORBIDDEN'),
      new TransferError('NOT_FOUND'),
      new TransferError('INVALID_EXT'),
      new TransferError('SIZE_MISMATCH'),
      new TransferError('BAD_RESPONSE', 'HTTP 404', { status: 404 }),
      new TransferError('LOCAL_IO'),
      new TransferError('ABORTED'),
      new Error('NotReadableError'),
      'a string',
    ];
    for (const e of yes)
      assert.equal(canRetry(e), true, `${(e as TransferError).code} ${(e as TransferError).status}`);
    for (const e of no) assert.equal(canRetry(e), false, String(e));
  });

  it('calls a transfer stalled after a pause longer than its own pace explains', () => {
    let now = 0;
    const watch = new StallWatch(
      () => undefined,
      undefined,
      () => now,
    );
    watch.start();
    watch.stop(); // its timer only re-renders a row; the clock here is ours
    watch.progress(0);
    now = STALL_MAX_MS - 1;
    assert.equal(watch.stalledFor(), 0, 'before two steps it waits the longest');
    now = STALL_MAX_MS + 1;
    assert.equal(watch.stalledFor(), STALL_MAX_MS + 1);
    // Steps every 2 s: stalled after 6 s without one.
    for (let i = 1; i <= 6; i++) {
      now += 2000;
      watch.progress(i * 4_000_000);
    }
    assert.equal(watch.threshold, 6000, 'the 32 s pause before has aged out of the recent steps');
    now += 5900;
    assert.equal(watch.stalledFor(), 0);
    now += 200;
    assert.equal(watch.stalledFor(), 6100);
    // A report without new bytes is no step.
    watch.progress(6 * 4_000_000);
    assert.equal(watch.stalledFor(), 6100);
    // However fast the steps, the floor is STALL_MIN_MS; a slow pace is capped at STALL_MAX_MS.
    watch.start();
    watch.stop();
    for (let i = 1; i <= 20; i++) {
      now += 50;
      watch.progress(i);
    }
    assert.equal(watch.threshold, STALL_MIN_MS);
    now += 20_000;
    watch.progress(21);
    assert.equal(watch.threshold, STALL_MAX_MS);
  });

  it('calls a transfer stalled as soon as the server stops answering, even on a slow pace', async () => {
    let now = 0;
    let there = true;
    let probes = 0;
    const watch = new StallWatch(
      () => undefined,
      async () => {
        probes++;
        return there;
      },
      () => now,
    );
    watch.start();
    watch.stop();
    for (let i = 0; i <= 5; i++) {
      now += 8000; // a chunk every 8 s: the pace alone would wait 24 s
      watch.progress(i);
    }
    now += STALL_MIN_MS - 1;
    await watch.check();
    assert.equal(probes, 0, 'no question before STALL_MIN_MS without progress');
    now += 1;
    await watch.check();
    assert.equal(probes, 1);
    assert.equal(watch.stalledFor(), 0, 'the server answers: a slow chunk, not a stall');
    now += PROBE_EVERY_MS - 1;
    await watch.check();
    assert.equal(probes, 1, 'one question per PROBE_EVERY_MS');
    there = false;
    now += 1;
    await watch.check();
    assert.equal(probes, 2);
    assert.equal(watch.stalledFor(), STALL_MIN_MS + PROBE_EVERY_MS);
    // Progress clears it, and a late answer about the time before is dropped.
    there = false;
    const late = watch.check();
    watch.progress(6);
    await late;
    assert.equal(watch.stalledFor(), 0);
  });
});

/** A TCP gate in front of a server: closed, the server looks dead (reset, then refused); opened again on the same port. */
interface Gate {
  url: string;
  close(): Promise<void>;
  open(): Promise<void>;
}

async function startGate(upstreamPort: number): Promise<Gate> {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let port = 0;
  const open = async () => {
    server = createServer((client) => {
      const up = connect(upstreamPort, '127.0.0.1');
      sockets.add(client).add(up);
      const drop = () => {
        client.destroy();
        up.destroy();
        sockets.delete(client);
        sockets.delete(up);
      };
      client.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      client.pipe(up).pipe(client);
    });
    const s = server;
    await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
    port = (s.address() as { port: number }).port;
  };
  await open();
  return {
    url: `http://127.0.0.1:${port}`,
    open,
    async close() {
      const s = server;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

describe('web page details in Chromium', { skip: needChromium(), timeout: 480_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let dir: string;
  let webDir: string;

  before(async () => {
    dir = await tempDir('rt-web-page-');
    webDir = join(dir, 'web-dist');
    await buildWeb(webDir); // the page under test is built from the sources under test
    const lib = join(dir, 'library');
    await mkdir(lib);
    await writeFile(join(lib, 'photo.png'), PNG);
    await writeFile(join(lib, 'notes.txt'), Buffer.alloc(999, 'a'));
    await writeFile(join(lib, 'data.zip'), Buffer.alloc(1000, 1));
    await writeFile(join(lib, 'movie.mp4'), Buffer.alloc(1001 * 1024, 2));
    await writeFile(join(lib, 'README'), Buffer.alloc(1024 * 1024, 3));
    await writeFile(join(lib, 'report.pdf'), Buffer.alloc(5000, 4));
    await writeFile(join(lib, 'broken.jpg'), Buffer.from('not a JPEG at all'));
    server = await startTestServer({ webDir, libraryDirs: [lib] });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * A page that records every console error or warning, page error, failed request, answer of
   * 400 or more and CSP violation (the securitypolicyviolation event, listened for before any
   * script of the page runs).
   */
  async function watchedPage(
    context: BrowserContext,
    url: string,
  ): Promise<{ page: Page; problems: () => Promise<string[]> }> {
    await context.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) =>
        seen.push(`CSP ${e.violatedDirective}: ${e.blockedURI}`),
      );
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      // The download worker is terminated once its file is stored, and Chromium then reports its
      // answered requests whose body it had not marked read (a HEAD's empty one; on a loaded
      // machine a GET's last bytes) as aborted: answered, with a good status, is not failed.
      const answered = r.failure()?.errorText === 'net::ERR_ABORTED';
      void r.response().then((res) => {
        if (!(answered && res && res.status() < 400))
          problems.push(`failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
      });
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`);
    });
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
    return {
      page,
      problems: async () => [
        ...problems,
        ...(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)),
      ],
    };
  }

  const uploadRow = (page: Page, name: string) => page.locator('#upload-list .row', { hasText: name });

  async function uploadAndWait(page: Page, path: string, name: string): Promise<void> {
    await page.setInputFiles('#file-input', path);
    await page
      .locator(`#upload-list .row:is([data-state="done"], [data-state="instant"], [data-state="error"])`, {
        hasText: name,
      })
      .waitFor({ timeout: 60_000 });
    assert.match((await uploadRow(page, name).getAttribute('data-state')) ?? '', /done|instant/);
  }

  it('loads with its favicon and no console error, failed request or CSP violation, through an upload and a download', async () => {
    const context = await browser.newContext({ locale: 'en-US', acceptDownloads: true });
    try {
      const { page, problems } = await watchedPage(context, server.url);
      const icon = await page.locator('link[rel="icon"]').evaluate((l: HTMLLinkElement) => l.href);
      assert.equal(icon, `${server.url}/favicon.svg`);
      const res = await fetch(icon);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/svg+xml');
      assert.match(await res.text(), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      await page
        .locator('.card[data-name="photo.png"] img')
        .evaluate((img: HTMLImageElement) => img.decode());
      // The workers, WebAssembly, IndexedDB and OPFS under the CSP.
      const path = join(dir, 'clean.bin');
      await writeRandomFile(path, 2 * MB, 31);
      await uploadAndWait(page, path, 'clean.bin');
      const saved = page.waitForEvent('download', { timeout: 30_000 });
      await page.locator('.card[data-name="report.pdf"] [data-action="download"]').click();
      assert.equal((await readFile((await (await saved).path())!)).length, 5000);
      await page.waitForTimeout(500); // a late favicon request or console line would land here
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('draws files that are not images as an icon with their extension; every size in one format', async () => {
    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1100, height: 900 } });
    try {
      const page = await context.newPage();
      await page.goto(server.url);
      await page.waitForSelector('body[data-ready="true"]');
      const card = (name: string) => page.locator(`.card[data-name="${name}"]`);
      const icons: Record<string, [string, string]> = {
        'notes.txt': ['TXT', 'text'],
        'data.zip': ['ZIP', 'archive'],
        'movie.mp4': ['MP4', 'video'],
        'report.pdf': ['PDF', 'document'],
        README: ['FILE', 'other'],
        'broken.jpg': ['JPG', 'image'], // an image that cannot be shown falls back to the icon
      };
      for (const [name, [ext, kind]] of Object.entries(icons)) {
        const icon = card(name).locator('.thumb .file-icon');
        assert.equal(await icon.getAttribute('data-kind'), kind, name);
        assert.equal(await icon.locator('.file-ext').textContent(), ext, name);
        const box = await icon.boundingBox();
        assert.ok(
          box && box.width > 40 && box.height > 50,
          `${name}: the icon is drawn (${JSON.stringify(box)})`,
        );
        const label = await icon.locator('.file-ext').evaluate((el) => getComputedStyle(el).color);
        assert.equal(label, 'rgb(255, 255, 255)', `${name}: the extension is written on its band`);
      }
      const img = card('photo.png').locator('.thumb img');
      await img.evaluate((el: HTMLImageElement) => el.decode());
      assert.ok((await img.evaluate((el: HTMLImageElement) => el.naturalWidth)) > 0);
      assert.equal(await card('photo.png').locator('.file-icon').count(), 0);

      const sizes: Record<string, string> = {
        'notes.txt': '999 B',
        'data.zip': '1.0 KB',
        'movie.mp4': '1.0 MB', // 1001 KiB
        README: '1.0 MB', // 1 MiB
        'report.pdf': '4.9 KB',
      };
      for (const [name, text] of Object.entries(sizes))
        assert.equal(await card(name).locator('.card-size').textContent(), text, name);
      // A row and the overall line use the same format.
      const path = join(dir, 'sizes.bin');
      await writeRandomFile(path, 1001 * 1024, 32);
      await uploadAndWait(page, path, 'sizes.bin');
      assert.equal(await uploadRow(page, 'sizes.bin').locator('.row-size').textContent(), '1.0 MB');
      assert.equal(await page.locator('#upload-overall').textContent(), '1 of 1 file · 1.0 MB of 1.0 MB');
      for (const text of await page.locator('.card-size, .row-size').allTextContents())
        assert.match(text, SIZE);
      await screenshot(page, 'library-icons-en');
    } finally {
      await context.close();
    }
  });

  it('keeps the links of uploads across reloads until removed or the history is cleared', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    try {
      const page = await context.newPage();
      await page.goto(server.url);
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.locator('#history').isVisible(), false, 'no history on a first visit');
      const first = join(dir, 'first.bin');
      const second = join(dir, 'second.bin');
      const firstId = await writeRandomFile(first, 2 * MB, 33);
      await writeRandomFile(second, 1 * MB, 34);
      await uploadAndWait(page, first, 'first.bin');
      await uploadAndWait(page, second, 'second.bin');
      const firstLink = new URL((await uploadRow(page, 'first.bin').getAttribute('data-url'))!, server.url)
        .href;
      // This visit's links are in the rows above; the history says it keeps them.
      assert.equal(await page.locator('#history').isVisible(), true);
      assert.equal(await page.locator('#history-list .row').count(), 0);
      assert.equal(await page.locator('#history-note').isVisible(), true);

      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      const rows = page.locator('#history-list .row');
      assert.equal(await rows.count(), 2);
      assert.match(
        (await rows.nth(0).locator('.row-name').textContent()) ?? '',
        /second\.bin/,
        'newest first',
      );
      const kept = rows.filter({ hasText: 'first.bin' });
      assert.equal(await kept.getAttribute('data-url'), firstLink);
      assert.equal(await kept.locator('.row-link').getAttribute('href'), firstLink);
      assert.equal(await kept.locator('.row-size').textContent(), '1.9 MB');
      assert.match((await kept.locator('.row-status').textContent()) ?? '', /^Uploaded /);
      const res = await fetch(firstLink);
      assert.equal(md5(new Uint8Array(await res.arrayBuffer())), firstId, 'the kept link serves the file');
      await screenshot(page, 'upload-history-en');

      // Remove forgets one, for good.
      await rows.filter({ hasText: 'second.bin' }).locator('[data-action="remove"]').click();
      // The row goes once IndexedDB has forgotten it (a loaded machine read the count before).
      await page.waitForFunction(() => document.querySelectorAll('#history-list .row').length <= 1);
      assert.equal(await rows.count(), 1);
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await rows.count(), 1);

      // Clear history empties it, for good.
      await page.click('#clear-history');
      await page.locator('#history').waitFor({ state: 'hidden' });
      assert.equal(await page.locator('#history').isVisible(), false);
      assert.equal(await rows.count(), 0);
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.locator('#history').isVisible(), false);
      const stored = await page.evaluate(
        () =>
          new Promise<number>((resolve, reject) => {
            const open = indexedDB.open('resumable-transfer-page');
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
              const count = open.result.transaction('uploads').objectStore('uploads').count();
              count.onsuccess = () => resolve(count.result);
              count.onerror = () => reject(count.error);
            };
          }),
      );
      assert.equal(stored, 0);
    } finally {
      await context.close();
    }
  });

  it('labels the language switch "EN / 中文", and "EN / ZH" where no font has Chinese', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    try {
      const page = await context.newPage();
      await page.goto(server.url);
      await page.waitForSelector('body[data-ready="true"]');
      const lang = page.locator('#lang');
      assert.equal(await lang.textContent(), 'EN / 中文');
      assert.equal(await lang.getAttribute('data-cjk'), 'true');
      assert.match((await lang.getAttribute('aria-label')) ?? '', /English\. Switch to Chinese/);
      assert.equal(await lang.locator('.current').textContent(), 'EN');
      await lang.click();
      assert.equal(await page.locator('#upload-heading').textContent(), '上传');
      assert.equal(await lang.locator('.current').textContent(), '中文');
      assert.match((await lang.getAttribute('aria-label')) ?? '', /English/);
    } finally {
      await context.close();
    }

    // Chromium that sees only DejaVu (no Chinese glyphs): 中文 would be two empty boxes.
    const latinOnly = '/usr/share/fonts/truetype/dejavu';
    if (!existsSync(latinOnly)) {
      console.log(`# the no-CJK-font case skipped: ${latinOnly} is missing`);
      return;
    }
    const conf = join(dir, 'fonts.conf');
    await writeFile(
      conf,
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig><dir>${latinOnly}</dir><cachedir>${join(dir, 'fc-cache')}</cachedir></fontconfig>\n`,
    );
    const bare = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      env: { ...process.env, FONTCONFIG_FILE: conf } as Record<string, string>,
    });
    try {
      const page = await bare.newPage({ locale: 'en-US' });
      await page.goto(server.url);
      await page.waitForSelector('body[data-ready="true"]');
      const lang = page.locator('#lang');
      assert.equal(await lang.getAttribute('data-cjk'), 'false');
      assert.equal(await lang.textContent(), 'EN / ZH');
      assert.match((await lang.getAttribute('aria-label')) ?? '', /Switch to Chinese/);
      await screenshot(page, 'lang-switch-no-cjk-font');
    } finally {
      await bare.close();
    }
  });

  it('offers no Retry for a refusal (401, 413 FILE_TOO_LARGE): only Cancel', async () => {
    const strict = await startTestServer({
      webDir,
      maxFileSize: 2 * 1024 * 1024,
      auth: 'token',
      authTokens: ['alice:alice-token-0123456789'],
    });
    const context = await browser.newContext({ locale: 'en-US' });
    try {
      const big = join(dir, 'too-big.bin');
      await writeRandomFile(big, 3 * MB, 35);
      const cases: [string, RegExp][] = [
        ['#token=alice-token-0123456789', /^Failed: The file is larger than this server accepts\.$/],
        ['#token=wrong-token-0123456789', /^Failed: Valid credentials are needed/],
      ];
      for (const [hash, message] of cases) {
        const page = await context.newPage();
        await page.goto(`${strict.url}/${hash}`);
        await page.waitForSelector('body[data-ready="true"]');
        await page.setInputFiles('#file-input', big);
        const row = uploadRow(page, 'too-big.bin');
        await page.locator('#upload-list .row[data-state="error"]').waitFor({ timeout: 30_000 });
        assert.match((await row.locator('.row-status').textContent()) ?? '', message);
        assert.equal(await row.locator('[data-action="retry"]').count(), 0, `${hash}: no Retry`);
        assert.equal(await row.locator('[data-action="cancel"]').count(), 1);
        await page.close();
      }
    } finally {
      await context.close();
      await strict.close();
    }
  });

  it('after the server dies a row stops showing speed and time left, then offers Retry, which finishes', async (t) => {
    const own = await startTestServer({ webDir });
    // Each chunk request crawls at 1 MB/s, so the upload has a middle; the gate can play dead.
    const proxy: ThrottleProxy = await startThrottleProxy(own.url, (req) =>
      req.method === 'POST' && req.url?.startsWith('/api/upload?') ? 1 * MB : 0,
    );
    const gate = await startGate(Number(new URL(proxy.url).port));
    const context = await browser.newContext({ locale: 'en-US' });
    try {
      const path = join(dir, 'dies.bin');
      const fileId = await writeRandomFile(path, 40 * MB, 36);
      const page = await context.newPage();
      await page.goto(gate.url);
      await page.waitForSelector('body[data-ready="true"]');
      // Record whether a row ever said "stalled" while the server was fine.
      await page.evaluate(() => {
        const w = window as unknown as { stalledEarly: boolean; observer: MutationObserver };
        w.stalledEarly = false;
        w.observer = new MutationObserver(() => {
          if (document.querySelector('#upload-list .row[data-stalled]')) w.stalledEarly = true;
        });
        w.observer.observe(document.body, { subtree: true, attributes: true });
      });
      await page.setInputFiles('#file-input', path);
      const row = uploadRow(page, 'dies.bin');
      await page.waitForFunction(
        () => {
          const el = document.querySelector<HTMLElement>('#upload-list .row');
          return el?.dataset.state === 'uploading' && Number(el.dataset.done) >= 8_000_000;
        },
        undefined,
        { timeout: 60_000, polling: 100 },
      );
      assert.match(
        (await row.locator('.row-status').textContent()) ?? '',
        /\/s · .* left/,
        'speed and ETA while moving',
      );
      assert.equal(
        await page.evaluate(() => {
          const w = window as unknown as { stalledEarly: boolean; observer: MutationObserver };
          w.observer.disconnect();
          return w.stalledEarly;
        }),
        false,
        'never called stalled while the server answered',
      );

      await gate.close(); // the server is gone: connections reset, new ones refused
      const died = Date.now();
      // Said before the client gives up (its retries take 40 to 65 s here): how soon is printed,
      // not asserted (a loaded CI machine is slower; speed goals live in the bench).
      await page.locator('#upload-list .row[data-stalled="true"]').waitFor({ timeout: 60_000 });
      const noticedAfter = Date.now() - died;
      const status = (await row.locator('.row-status').textContent()) ?? '';
      t.diagnostic(`stalled ${noticedAfter} ms after the server died: "${status}"`);
      // STALL_MIN_MS after the last step, then the next probe fails: 8.5 s on a 2-core machine
      // busy with other tests (a refused fetch took Chromium 1.7 s there), 12.5 s at a load of 10.
      // Before, the row showed its last speed until the client gave up (40 to 65 s here).
      assert.match(status, /^Waiting for the server… \d+% · no progress for \d+ s$/);
      assert.doesNotMatch(status, /\/s|left/);
      await screenshot(page, 'upload-stalled-en');

      // The client gives up after its retries; the failure is the network's, so Retry is offered.
      await page.locator('#upload-list .row[data-state="error"]').waitFor({ timeout: 120_000 });
      t.diagnostic(`the client gave up ${Date.now() - died} ms after the server died`);
      assert.equal(await row.locator('[data-action="retry"]').count(), 1);
      assert.equal(await row.getAttribute('data-stalled'), null);
      await screenshot(page, 'upload-server-gone-en');

      await gate.open();
      proxy.rule = () => 0;
      await row.locator('[data-action="retry"]').click();
      await page.locator('#upload-list .row[data-state="done"]').waitFor({ timeout: 60_000 });
      const link = await row.getAttribute('data-url');
      const res = await fetch(new URL(link!, own.url));
      assert.equal(md5(new Uint8Array(await res.arrayBuffer())), fileId);
      assert.equal(await md5File(path), fileId);
    } finally {
      await context.close();
      await gate.close();
      await proxy.close();
      await own.close();
    }
  });
});
