/**
 * A download whose folder goes away while it runs (an operator cleaning up, a full disk): its
 * checkpoint cannot be written, and the download fails with LOCAL_IO. The failure must reach the
 * caller's promise, never escape as an unhandled rejection (fatal to a Node process by default;
 * node:test fails the test on one): a checkpoint started while bytes were written used to be
 * awaited only by the last one.
 */
import assert from 'node:assert/strict';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { download } from '../src/client/node/index.js';
import { writeRandomFile } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

let srv: TestServer;
before(async () => {
  const lib = await tempDir('rt-gone-lib-');
  await writeRandomFile(join(lib, 'big.bin'), 32 * 1024 * 1024, 907);
  srv = await startTestServer({ libraryDirs: [lib] });
});
after(() => srv.close());

it('a download whose folder is removed mid-way fails with LOCAL_IO, through its promise', async () => {
  const work = await tempDir('rt-gone-out-');
  const folder = join(work, 'out');
  await mkdir(folder);
  let removed = false;
  await assert.rejects(
    download(`${srv.url}/download/big.bin`, {
      destination: join(folder, 'big.bin'),
      connections: 1,
      checkpointInterval: 1,
      retryDelays: null,
      onProgress: () => {
        if (removed) return;
        removed = true;
        // Moved away at once (removing it races the files the download writes into it).
        void rename(folder, `${folder}-gone`);
      },
    }),
    { code: 'LOCAL_IO' },
  );
  assert.ok(removed, 'the folder was removed while the download ran');
});
