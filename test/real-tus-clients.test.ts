/**
 * Real clients: tus-js-client in Node, with protocol tus-v1, ietf-draft-03 (interop version 5)
 * and ietf-draft-05 (version 6), uploading a file of tens of MB from disk, aborted half way and
 * resumed by a new Upload from its fingerprint store (urlStorage). The published file is
 * byte-exact, and then a seed-protocol handshake for its MD5 answers its link at once (instant
 * upload across protocols). On local disk and on S3.
 *
 * Uppy in Chromium (@uppy/core + @uppy/tus + @uppy/dashboard) is test/uppy.test.ts.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tus from 'tus-js-client';
import { writeRandomFile } from './helpers/bytes.js';
import { backends } from './helpers/resumable.js';
import { type TestServer, tempDir } from './helpers/server.js';

const MiB = 1024 * 1024;
const SIZE = 24 * MiB + 12_345;
type Protocol = 'tus-v1' | 'ietf-draft-03' | 'ietf-draft-05';
// The package's typings (lib/index.d.ts) predate its `protocol` option and lack FileUrlStorage.
const { FileUrlStorage } = tus as unknown as { FileUrlStorage: new (path: string) => tus.UrlStorage };

function options(
  s: TestServer,
  protocol: Protocol,
  store: string,
  extra: Partial<tus.UploadOptions> = {},
): tus.UploadOptions {
  return {
    endpoint: `${s.url}/files/`,
    ...{ protocol },
    chunkSize: 4 * MiB,
    retryDelays: [100, 300, 1000],
    metadata: { filename: 'big.bin', filetype: 'application/octet-stream' },
    urlStorage: new FileUrlStorage(store),
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    ...extra,
  } as tus.UploadOptions;
}

for (const backend of backends()) {
  describe(`tus-js-client against ${backend.name}`, { skip: backend.skip, timeout: 300_000 }, () => {
    let s: TestServer;
    let dir: string;
    before(async () => {
      s = await backend.start();
      dir = await tempDir('rt-tusjs-');
    });
    after(async () => {
      await s?.close();
      await rm(dir, { recursive: true, force: true });
    });

    for (const [i, protocol] of (['tus-v1', 'ietf-draft-03', 'ietf-draft-05'] as const).entries()) {
      it(`${protocol}: aborted half way, resumed from the fingerprint store, byte-exact, then 秒传 by the seed handshake`, async () => {
        const path = join(dir, `${protocol}.bin`);
        const fileId = await writeRandomFile(path, SIZE, 70 + i);
        const store = join(dir, `${protocol}.json`);

        // First attempt: aborted once more than a third is sent.
        await new Promise<void>((resolve, reject) => {
          const first: tus.Upload = new tus.Upload(
            createReadStream(path),
            options(s, protocol, store, {
              onProgress: (sent) => {
                if (sent > SIZE / 3) {
                  first.abort().then(resolve, reject);
                }
              },
              onError: reject,
              onSuccess: () => reject(new Error('the first attempt should have been aborted')),
            }),
          );
          first.start();
        });

        // Second attempt: a new Upload finds the first in the store and resumes it.
        let resumedAt = -1;
        await new Promise<void>((resolve, reject) => {
          const second = new tus.Upload(
            createReadStream(path),
            options(s, protocol, store, {
              onAfterResponse: (req, res) => {
                if (req.getMethod() === 'HEAD' && resumedAt < 0)
                  resumedAt = Number(res.getHeader('Upload-Offset'));
              },
              onError: reject,
              onSuccess: () => resolve(),
            }),
          );
          second
            .findPreviousUploads()
            .then((previous) => {
              assert.ok(previous.length > 0, 'the first upload is in the fingerprint store');
              second.resumeFromPreviousUpload(previous[0]!);
              second.start();
            })
            .catch(reject);
        });
        assert.ok(resumedAt > 0, `resumed from byte ${resumedAt}, not from the start`);

        const got = await fetch(`${s.url}/upload/${fileId}.bin`);
        assert.equal(got.status, 200);
        const hash = (await import('node:crypto')).createHash('md5');
        for await (const chunk of got.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
        assert.equal(hash.digest('hex'), fileId);
        assert.equal(Number(got.headers.get('content-length')), SIZE);

        const hs = await fetch(`${s.url}/api/upload/handshake`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ fileId, ext: '.bin', chunkIds: [fileId] }),
        });
        const answer = (await hs.json()) as { code: number; data: unknown };
        assert.equal(answer.code, 0);
        assert.equal(answer.data, `${s.url}/upload/${fileId}.bin`);
      });
    }
  });
}
