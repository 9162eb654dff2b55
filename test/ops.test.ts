/**
 * Operations for a new user (issue 20): the port opens at once, client-only users need no AWS
 * SDK, the request log says what was sent, and /metrics, /api/version and /api/ready.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
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
