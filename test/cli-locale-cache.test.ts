/**
 * The CLI speaks the user's language to the server (issue 20, item 7): Accept-Language from
 * LC_ALL / LC_MESSAGES / LANG, so a refusal is printed in English or Chinese. And `resumable
 * cache path|clear` (item 13): where the upload hash cache is, and forgetting it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeRandomFile } from './helpers/bytes.js';
import { ROOT, TSX } from './helpers/child-server.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

let srv: TestServer;
let work: string;

before(async () => {
  work = await tempDir('rt-cli-locale-');
  srv = await startTestServer({ maxFileSize: 1000 });
});
after(async () => {
  await srv.close();
  await rm(work, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string | undefined>) {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  const proc = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: work,
    env: merged as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (b: Buffer) => {
    stdout += b;
  });
  proc.stderr.on('data', (b: Buffer) => {
    stderr += b;
  });
  const [code] = await once(proc, 'exit');
  return { code: code as number | null, stdout, stderr };
}

describe('the server answers in the locale’s language', () => {
  const locale = (lang: string) => ({
    LANG: lang,
    LC_ALL: undefined,
    LC_MESSAGES: undefined,
    RESUMABLE_CACHE_DIR: join(work, 'cache'),
  });

  it('LANG=en_US.UTF-8: the refusal in English', async () => {
    const path = join(work, 'big-en.bin');
    await writeRandomFile(path, 5000, 91);
    const r = await cli(['upload', path, '-s', srv.url, '-q'], locale('en_US.UTF-8'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /The file would be 5000 bytes, over 1000\. \(FILE_TOO_LARGE, HTTP 413\)/);
  });

  it('LANG=zh_CN.UTF-8: the same refusal in Chinese', async () => {
    const path = join(work, 'big-zh.bin');
    await writeRandomFile(path, 5000, 92);
    const r = await cli(['upload', path, '-s', srv.url, '-q'], locale('zh_CN.UTF-8'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /文件太大，超过服务器允许的最大文件大小 \(FILE_TOO_LARGE, HTTP 413\)/);
  });
});

describe('resumable cache', () => {
  it('path: XDG_CACHE_HOME/resumable-transfer/hashes, or RESUMABLE_CACHE_DIR', async () => {
    const xdg = join(work, 'xdg');
    const r = await cli(['cache', 'path'], { XDG_CACHE_HOME: xdg, RESUMABLE_CACHE_DIR: undefined });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${join(xdg, 'resumable-transfer', 'hashes')}\n`);
    const own = await cli(['cache', 'path'], { RESUMABLE_CACHE_DIR: join(work, 'own') });
    assert.equal(own.stdout, `${join(work, 'own')}\n`);
  });

  it('clear: the hashes an upload cached are gone; the next upload hashes again', async () => {
    const env = { XDG_CACHE_HOME: join(work, 'xdg2'), RESUMABLE_CACHE_DIR: undefined, LANG: 'en_US.UTF-8' };
    const big = await startTestServer();
    try {
      const path = join(work, 'cached.bin');
      await writeRandomFile(path, 300_000, 93);
      const up = await cli(['upload', path, '-s', big.url, '-q', '--json'], env);
      assert.equal(up.code, 0, up.stderr);
      const dir = join(work, 'xdg2', 'resumable-transfer', 'hashes');
      assert.equal((await readdir(dir)).length, 1);
      const again = await cli(['upload', path, '-s', big.url, '-q', '--json'], env);
      assert.equal((JSON.parse(again.stdout) as { hashCached: boolean }).hashCached, true);
      const clear = await cli(['cache', 'clear'], env);
      assert.equal(clear.code, 0);
      assert.equal(clear.stdout, `removed 1 cached entry from ${dir}\n`);
      await assert.rejects(readdir(dir), { code: 'ENOENT' });
      const empty = await cli(['cache', 'clear'], env);
      assert.equal(empty.stdout, `removed 0 cached entries from ${dir}\n`);
      const third = await cli(['upload', path, '-s', big.url, '-q', '--json'], env);
      assert.equal((JSON.parse(third.stdout) as { hashCached: boolean }).hashCached, false);
    } finally {
      await big.close();
    }
  });
});
