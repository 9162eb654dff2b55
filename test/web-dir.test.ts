/**
 * `serve --web-dir <dir>` (issue 20, point 15): an operator's own page with its scripts and styles
 * in sub-folders (the course's page keeps jQuery in `lib/`) is served with the types of those
 * files, so Chromium runs the scripts and applies the styles under the page's CSP and nosniff.
 * Nothing outside the folder is ever answered: `..` in every spelling, dotfiles, and symlinks that
 * lead out of it get a 400 or 404.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, needChromium } from './helpers/browser.js';
import { type ChildServer, killAllServers, spawnServer } from './helpers/child-server.js';
import { tempDir } from './helpers/server.js';

const SECRET = `top-secret-${process.pid}-${Date.now()}`;

const INDEX = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Course page</title>
  <link rel="icon" href="img/icon.svg">
  <link rel="stylesheet" href="css/y.css">
  <script src="lib/x.js"></script>
  <script src="lib/vendor/z.js" defer></script>
</head>
<body>
  <p id="styled">styled by css/y.css</p>
  <p id="out">the script did not run</p>
</body>
</html>
`;

/** Raw request: the target goes on the wire exactly as written (fetch would normalise `..`). */
function rawGet(base: string, target: string): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`);
    });
    const parts: Buffer[] = [];
    socket.on('data', (b: Buffer) => parts.push(b));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(parts).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
  });
}

describe('--web-dir with sub-folders', { timeout: 120_000 }, () => {
  let dir: string;
  let site: string;
  let server: ChildServer;

  before(async () => {
    dir = await tempDir('rt-webdir-');
    site = join(dir, 'site');
    await mkdir(join(site, 'lib', 'vendor'), { recursive: true });
    await mkdir(join(site, 'css'), { recursive: true });
    await mkdir(join(site, 'img'), { recursive: true });
    await mkdir(join(dir, 'library'));
    await writeFile(join(site, 'index.html'), INDEX);
    await writeFile(join(site, 'lib', 'x.js'), "window.fromX = 'x ran';\n");
    await writeFile(
      join(site, 'lib', 'vendor', 'z.js'),
      "document.getElementById('out').textContent = window.fromX + ', z ran';\n",
    );
    await writeFile(join(site, 'css', 'y.css'), '#styled { color: rgb(1, 2, 3); }\n');
    // Without an icon Chromium asks for /favicon.ico, and its 404 is a console error.
    await writeFile(
      join(site, 'img', 'icon.svg'),
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" fill="#2f6fde"/></svg>\n',
    );
    await writeFile(join(site, '.env'), `TOKEN=${SECRET}\n`);
    await writeFile(join(dir, 'secret.txt'), `${SECRET}\n`);
    // Links leading out of the folder: a folder and a file.
    await symlink(dir, join(site, 'out'));
    await symlink(join(dir, 'secret.txt'), join(site, 'lib', 'secret.txt'));
    server = await spawnServer(join(dir, 'data'), ['--web-dir', site, '--library', join(dir, 'library')]);
  });
  after(async () => {
    await server?.stop();
    killAllServers();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers files in sub-folders with the type of their extension (not their path)', async () => {
    const expected: Record<string, string> = {
      '/': 'text/html; charset=utf-8',
      '/lib/x.js': 'text/javascript; charset=utf-8',
      '/lib/vendor/z.js': 'text/javascript; charset=utf-8',
      '/css/y.css': 'text/css; charset=utf-8',
      '/img/icon.svg': 'image/svg+xml',
    };
    for (const [path, type] of Object.entries(expected)) {
      const res = await fetch(new URL(path, server.url));
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), type, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      await res.arrayBuffer();
    }
  });

  it('in Chromium the scripts in lib/ run and the style in css/ applies, with no error', async (t) => {
    const skip = needChromium();
    if (skip) {
      t.skip(skip);
      return;
    }
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`);
      });
      await page.goto(server.url);
      await page.waitForFunction(
        () => document.getElementById('out')?.textContent !== 'the script did not run',
      );
      assert.equal(await page.locator('#out').textContent(), 'x ran, z ran');
      assert.equal(
        await page.locator('#styled').evaluate((el) => getComputedStyle(el).color),
        'rgb(1, 2, 3)',
      );
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
    }
  });

  it('never answers a file outside the folder: .. in every spelling, dotfiles, links out', async () => {
    const attempts = [
      '/lib/../../etc/passwd',
      '/lib/../../secret.txt',
      '/../secret.txt',
      '/../../../../etc/passwd',
      '/lib/%2e%2e/%2e%2e/etc/passwd',
      '/lib/%2E%2E/%2E%2E/secret.txt',
      '/%2e%2e/secret.txt',
      '/lib/..%2f..%2fsecret.txt',
      '/lib/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/lib/%252e%252e/%252e%252e/secret.txt',
      '/lib/..%5c..%5csecret.txt',
      '/lib/..\\..\\secret.txt',
      '/lib/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt',
      '/lib/./../../secret.txt',
      '//etc/passwd',
      '/%2fetc%2fpasswd',
      '/etc/passwd',
      '/.env',
      '/lib/.%2e/.env',
      '/out/secret.txt',
      '/lib/secret.txt',
      '/lib/x.js%00.html',
    ];
    for (const target of attempts) {
      const { status, text } = await rawGet(server.url, target);
      assert.ok(status === 404 || status === 400, `${target}: ${status}`);
      assert.ok(!text.includes(SECRET), `${target} leaked the secret`);
      assert.ok(!text.includes('root:'), `${target} leaked /etc/passwd`);
    }
    // The same files inside the folder are served, so the refusals above are about the path.
    assert.equal((await rawGet(server.url, '/lib/x.js')).status, 200);
  });
});
