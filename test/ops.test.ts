/**
 * Operations for a new user (issue 20): the port opens at once, client-only users need no AWS
 * SDK, the request log says what was sent, and /metrics, /api/version and /api/ready.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { startServer } from '../src/server/index.js';
import { WALLPAPER_COUNT, wallpaperName } from '../src/server/wallpapers.js';
import { ROOT, TSX } from './helpers/child-server.js';

const NO_AWS_SDK = join(ROOT, 'test/helpers/no-aws-sdk.mjs');

/** Runs node with tsx and the hook that makes the AWS SDK look uninstalled. */
function runNode(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', TSX, '--import', NO_AWS_SDK, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    proc.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the AWS SDK is optional (item 4)', () => {
  for (const entry of ['src/client/node/index.ts', 'src/client/browser/index.ts', 'src/server/index.ts']) {
    test(`importing ${entry} does not load @aws-sdk`, async () => {
      const url = new URL(entry, `file://${ROOT}/`).href;
      const r = await runNode([
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(url)}); console.log('imported')`,
      ]);
      assert.equal(r.stdout.trim(), 'imported', r.stderr);
      assert.doesNotMatch(r.stderr, /loaded-aws-sdk/);
    });
  }

  test('serve --storage s3 without the SDK exits at once naming the npm command', async () => {
    const r = await runNode([
      join(ROOT, 'src/cli/main.ts'),
      'serve',
      '--port',
      '0',
      '--storage',
      's3',
      '--s3-bucket',
      'b',
      '--s3-endpoint',
      'http://127.0.0.1:9',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /npm install @aws-sdk\/client-s3 @aws-sdk\/lib-storage/);
    assert.doesNotMatch(r.stdout, /listening/);
  });

  test('createStorage names the npm command too (library users)', async () => {
    const url = new URL('src/storage/create-storage.ts', `file://${ROOT}/`).href;
    const code = `const { createStorage } = await import(${JSON.stringify(url)});
      await createStorage({ kind: 's3', bucket: 'b' }).then(() => console.log('created'), (e) => console.log(e.name + ': ' + e.message));`;
    const r = await runNode(['--input-type=module', '-e', code]);
    assert.match(r.stdout, /MissingS3SdkError: .*npm install @aws-sdk\/client-s3 @aws-sdk\/lib-storage/);
  });
});

describe('the port opens before anything slow (item 2)', () => {
  test('with a cold wallpaper cache, /api/health answers within a second and the samples follow', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'rt-ops-'));
    const saved = process.env.XDG_CACHE_HOME;
    // Nine of ten cached (fakes: any bytes serve), one to render: the background path, at the
    // CPU cost of one wallpaper rather than ten on a shared CI machine.
    const cache = join(scratch, 'cache');
    const cached = join(cache, 'resumable-transfer', 'wallpapers-v1');
    await mkdir(cached, { recursive: true });
    for (let n = 2; n <= WALLPAPER_COUNT; n++) await writeFile(join(cached, wallpaperName(n)), `cached ${n}`);
    process.env.XDG_CACHE_HOME = cache;
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const started = performance.now();
    const running = await startServer(
      { port: 0, dataDir: join(scratch, 'data'), libraryDirs: null },
      { logger },
    );
    try {
      const health = await fetch(`${running.url}/api/health`);
      const elapsed = performance.now() - started;
      assert.equal(health.status, 200);
      // Rendering the one missing wallpaper alone takes over a second.
      assert.ok(elapsed < 1000, `health answered ${Math.round(elapsed)} ms after the start`);
      // The cached nine are there at once; the tenth appears when rendered.
      const names = async () =>
        ((await (await fetch(`${running.url}/api/files`)).json()) as { data: { name: string }[] }).data.map(
          (f) => f.name,
        );
      assert.ok(!(await names()).includes(wallpaperName(1)));
      assert.equal((await names()).length, WALLPAPER_COUNT - 1);
      const deadline = Date.now() + 120_000;
      while (!lines.some((l) => l.includes('sample wallpapers ready')) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok((await names()).includes(wallpaperName(1)), lines.join(''));
      const res = await fetch(`${running.url}/download/${wallpaperName(1)}`);
      assert.equal(res.status, 200);
      assert.ok((await res.arrayBuffer()).byteLength > 100_000);
    } finally {
      await running.close();
      process.env.XDG_CACHE_HOME = saved;
      await rm(scratch, { recursive: true, force: true });
    }
  });

  test('a port in use is reported before the samples are rendered', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'rt-ops-'));
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = join(scratch, 'empty-cache');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    const started = performance.now();
    try {
      await assert.rejects(
        startServer({ port, dataDir: join(scratch, 'data'), libraryDirs: null, logLevel: 'silent' }),
        /EADDRINUSE/,
      );
      assert.ok(performance.now() - started < 1000);
    } finally {
      blocker.close();
      process.env.XDG_CACHE_HOME = saved;
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
