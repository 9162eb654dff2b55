/**
 * The whole-file MD5 a stream upload folds (io/md5-state.ts) runs in Node's OpenSSL where
 * native/md5.c was built, else in hash-wasm; both save the same form, so a state saved by one is
 * continued by the other (records written before this addon existed, readers that use hash-wasm,
 * a process without the addon) and gives the MD5 of the whole, at every split of the bytes. The
 * SHA-256 state (io/sha256-state.ts) continues states hash-wasm saved (S3 part uploads did).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { createMD5, createSHA256 } from 'hash-wasm';
import { md5State, nativeMd5 } from '../src/io/md5-state.js';
import { sha256State } from '../src/io/sha256-state.js';
import { randomBytesSeeded } from './helpers/bytes.js';

const data = randomBytesSeeded(3 * 64 * 1024 + 37, 5);
const whole = createHash('md5').update(data).digest('hex');
// Splits inside a block, on a block edge, at 0 and at the end.
const cuts = [0, 1, 63, 64, 65, 1000, 65_536, data.length - 1, data.length];

describe('md5 state', () => {
  it('is computed by the OpenSSL addon here (built by npm ci on Linux with a compiler)', () => {
    assert.equal(nativeMd5, process.platform === 'linux');
  });

  for (const cut of cuts) {
    it(`continues hash-wasm's saved state and is continued by hash-wasm (split at ${cut})`, async () => {
      // hash-wasm → ours
      const wasm = await createMD5();
      wasm.init().update(data.subarray(0, cut));
      const ours = await md5State(wasm.save());
      ours.update(data.subarray(cut));
      assert.equal(ours.hex(), whole);
      // ours → hash-wasm: the very bytes hash-wasm would have saved
      const mine = await md5State(null);
      mine.update(data.subarray(0, cut));
      const saved = mine.save();
      const again = await createMD5();
      again.init().update(data.subarray(0, cut));
      assert.deepEqual(Buffer.from(saved), Buffer.from(again.save()));
      const theirs = await createMD5();
      theirs.load(saved);
      theirs.update(data.subarray(cut));
      assert.equal(theirs.digest('hex'), whole);
    });
  }

  it('hex() leaves the state usable', async () => {
    const h = await md5State(null);
    h.update(data.subarray(0, 100));
    assert.equal(h.hex(), createHash('md5').update(data.subarray(0, 100)).digest('hex'));
    h.update(data.subarray(100));
    assert.equal(h.hex(), whole);
  });

  it('refuses bytes that are not a saved state', async () => {
    const wasm = await createMD5();
    const good = wasm.init().save();
    await assert.rejects(md5State(good.subarray(0, 100)));
    const badCount = Buffer.from(good);
    badCount.writeUInt32LE(0xffffffff, 4); // lo (bytes 4..7): at most 2^29 - 1
    await assert.rejects(md5State(badCount));
  });
});

describe('sha256 state', () => {
  const wholeSha = createHash('sha256').update(data).digest('hex');
  for (const cut of [0, 63, 64, 65_537, data.length]) {
    it(`continues a hash-wasm state (as S3 part uploads saved before), and its own (split at ${cut})`, async () => {
      const wasm = await createSHA256();
      wasm.init().update(data.subarray(0, cut));
      const fromWasm = await sha256State(wasm.save());
      fromWasm.update(data.subarray(cut));
      assert.equal(fromWasm.hex(), wholeSha);
      const mine = await sha256State(null);
      mine.update(data.subarray(0, cut));
      const again = await sha256State(mine.save());
      again.update(data.subarray(cut));
      assert.equal(again.hex(), wholeSha);
    });
  }
});
