/**
 * Headless Chromium from Debian (/usr/bin/chromium) driven by playwright-core; never a browser
 * download. Flags: as root Chromium needs --no-sandbox; the network flags stop it from calling
 * Google's hosts, which this closed network refuses.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** `skip` option for node:test: a message locally when Chromium is missing; under CI it must be there. */
export function needChromium(): false | string {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing in CI: apt-get install -y chromium`);
  return `chromium not installed (apt-get install -y chromium)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export const SCREENSHOTS = new URL('../../test-artifacts/screenshots/', import.meta.url);

/**
 * Saves a screenshot of the whole page, after checking that the page is no wider than the window
 * in that state (a long link once pushed it 200 px wider: found by looking at the screenshots).
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const width = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    window: document.documentElement.clientWidth,
  }));
  assert.ok(
    width.page <= width.window,
    `${name}: the page is ${width.page} px wide in a ${width.window} px window`,
  );
  await mkdir(SCREENSHOTS, { recursive: true });
  // Progress bars ease to their value over 0.2 s: capture where they arrive.
  await page.waitForTimeout(300);
  await page.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname, fullPage: true });
}
