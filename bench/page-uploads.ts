import type { Browser, Page } from 'playwright-core';
import { buildTestPage } from './test-page.js';

async function inFreshContext<T>(browser: Browser, url: string, run: (page: Page) => Promise<T>): Promise<T> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    return await run(page);
  } finally {
    await context.close();
  }
}

const TIMEOUT = 15 * 60_000;

/**
 * Our page (web/src, served by our server at `url`): done when the file's row is done (its link
 * shown). Throws when the row ended otherwise: in error, or instant (the server had it already),
 * or when the page took the file's hashes from its cache.
 */
export function ourPageUpload(
  browser: Browser,
  url: string,
  file: string,
): Promise<{ ms: number; link: string; bytesSent: number }> {
  return inFreshContext(browser, url, async (page) => {
    const started = performance.now();
    await page.setInputFiles('#file-input', file);
    const row = page.locator(
      '#upload-list .row:is([data-state="done"], [data-state="instant"], [data-state="error"])',
    );
    await row.waitFor({ state: 'attached', timeout: TIMEOUT });
    const ms = performance.now() - started;
    const state = await row.getAttribute('data-state');
    if (state !== 'done') throw new Error(`our page: the upload ended ${state}: ${await row.textContent()}`);
    // Hashed in this run: a hash from the cache would leave the hashing out of the time.
    if ((await row.getAttribute('data-hash-cached')) !== 'false') throw new Error('our page: hashes cached');
    const href = await row.locator('.row-link').getAttribute('href');
    return {
      ms,
      link: new URL(href ?? '', url).href,
      bytesSent: Number(await row.getAttribute('data-bytes-sent')),
    };
  });
}

/** Bundles bench/uppy-page.ts with an index.html into `dir`. */
export function buildUppyPage(dir: string): Promise<void> {
  return buildTestPage(dir, { page: 'bench/uppy-page.ts' });
}

/** Uppy's page (buildUppyPage, at `url`): done at Uppy's 'complete'. Throws unless the file went. */
export function uppyUpload(
  browser: Browser,
  url: string,
  file: string,
): Promise<{ ms: number; uploadUrl: string }> {
  return inFreshContext(browser, url, async (page) => {
    const started = performance.now();
    await page.setInputFiles('input', file);
    await page.waitForSelector('body[data-complete="true"]', { state: 'attached', timeout: TIMEOUT });
    const ms = performance.now() - started;
    const result = JSON.parse((await page.getAttribute('body', 'data-result')) ?? '{}') as {
      uploadUrls: string[];
      failed: string[];
    };
    if (result.failed.length || result.uploadUrls.length !== 1 || !result.uploadUrls[0])
      throw new Error(`Uppy: ${JSON.stringify(result)}`);
    return { ms, uploadUrl: result.uploadUrls[0] };
  });
}
