/**
 * GatherWriter (io/fs-util.ts) writes a body's buffers in batches, one batch while the next is
 * gathered: the file holds every byte in order at its position, and once stop() returns after a
 * failure nothing more reaches the file.
 */
import assert from 'node:assert/strict';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GatherWriter } from '../src/io/fs-util.js';
import { randomBytesSeeded } from './helpers/bytes.js';
import { tempDir } from './helpers/server.js';

describe('GatherWriter', () => {
  it('writes every buffer in order from its position, batches overlapping the gathering', async () => {
    const path = join(await tempDir(), 'out.bin');
    const data = randomBytesSeeded(3 * 1024 * 1024 + 12_345, 3);
    const fh = await open(path, 'w+');
    await fh.write(Buffer.from('HEAD'), 0, 4, 0);
    const out = new GatherWriter(fh, 4, 64 * 1024);
    // Buffers of uneven sizes, as a socket gives them.
    for (let at = 0, n = 1; at < data.length; at += n, n = (n * 7 + 13) % 70_000 || 1)
      await out.push(data.subarray(at, Math.min(data.length, at + n)));
    await out.flush();
    await out.stop();
    await fh.close();
    const back = await readFile(path);
    assert.equal(back.subarray(0, 4).toString(), 'HEAD');
    assert.ok(back.subarray(4).equals(data));
  });

  it('after a failed write, stop() waits for it and drops the rest: the file stays as it was', async () => {
    const path = join(await tempDir(), 'ro.bin');
    await (await open(path, 'w')).close();
    const fh = await open(path, 'r'); // writes fail: EBADF
    const out = new GatherWriter(fh, 0, 1024);
    await out.push(Buffer.alloc(2048, 1)); // the first batch starts writing
    await assert.rejects(
      (async () => {
        await out.push(Buffer.alloc(2048, 2)); // meets the first batch's failure
        await out.flush();
      })(),
      /EBADF/,
    );
    await out.stop();
    await out.flush(); // nothing left
    await fh.close();
    assert.equal((await stat(path)).size, 0);
  });
});
