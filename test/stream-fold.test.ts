/**
 * The stream MD5 and SHA-256 fold (io/hash-folds.ts): bytes hashed on its worker threads, the
 * states saved after each append and continued by the next (a SHA-256 only where the one before
 * was folded too), several uploads at once, and the append asked to
 * wait (never to buffer without bound) while the thread is behind.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { md5OfState, sha256OfState } from '../src/core/stream-fold.js';
import { type Fold, HashFolds } from '../src/io/hash-folds.js';
import { nativeSha256 } from '../src/io/native-sha256.js';
import type { StreamRecord } from '../src/storage/stream-store.js';
import { randomBytesSeeded } from './helpers/bytes.js';

/** Feeds `data` in pieces of `piece` bytes, waiting whenever the fold asks; counts the waits. */
async function feed(fold: Fold, data: Buffer, piece: number): Promise<number> {
  let waits = 0;
  for (let at = 0; at < data.length; at += piece) {
    const behind = fold.update(data.subarray(at, at + piece));
    if (behind) {
      waits++;
      await behind;
    }
  }
  return waits;
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
/** The SHA-256 fold needs native/sha256.c built (npm install builds it, when it can). */
const needSha = { skip: nativeSha256 ? false : 'native/sha256.c is not built: no SHA-256 is folded' };

it(
  'three appends, each continuing the saved states of the one before, fold the MD5 and SHA-256 of the whole',
  needSha,
  async () => {
    const folds = new HashFolds();
    const data = randomBytesSeeded(9 * 1024 * 1024 + 333, 5);
    const cuts = [0, 1_000_001, 6 * 1024 * 1024, data.length];
    let state: string | null = null;
    let shaState: string | null = null;
    for (let i = 0; i < 3; i++) {
      const fold = folds.begin(state, shaState);
      await feed(fold, data.subarray(cuts[i], cuts[i + 1]), 64 * 1024 + 7);
      const r = await fold.finish();
      const upTo = data.subarray(0, cuts[i + 1]);
      assert.equal(r.md5, md5(upTo), `after append ${i + 1}`);
      assert.equal(r.sha256, sha256(upTo), `SHA-256 after append ${i + 1}`);
      assert.equal(await md5OfState(r.md5State), r.md5, 'the saved state says the same MD5');
      assert.ok(r.sha256State);
      const record = { offset: cuts[i + 1], sha256State: r.sha256State } as StreamRecord;
      assert.equal(sha256OfState(record), r.sha256, 'the saved state says the same SHA-256');
      state = r.md5State;
      shaState = r.sha256State;
    }
  },
);

it(
  'a fold after bytes not folded into a SHA-256 (an older record) folds none; a bad state neither',
  needSha,
  async () => {
    const folds = new HashFolds();
    const first = folds.begin(null, null);
    await feed(first, Buffer.from('hello '), 6);
    const { md5State } = await first.finish();
    for (const shaState of [undefined, 'bm90IGEgc3RhdGU=']) {
      const fold = folds.begin(md5State, shaState);
      await feed(fold, Buffer.from('world'), 5);
      const r = await fold.finish();
      assert.equal(r.md5, md5(Buffer.from('hello world')), 'the MD5 goes on');
      assert.equal(r.sha256, undefined, `no SHA-256 after state ${shaState}`);
      assert.equal(r.sha256State, undefined);
    }
    // A record without the state (written by the version before) has no SHA-256 but its bytes'.
    assert.equal(sha256OfState({ offset: 11, md5State } as StreamRecord), undefined);
    assert.equal(sha256OfState({ offset: 0, md5State: null } as StreamRecord), sha256(Buffer.alloc(0)));
    // A state of 6 bytes in a record that counts 11 (a version that folds none appended 5 more).
    const { sha256State } = await (async () => {
      const f = folds.begin(null, null);
      await feed(f, Buffer.from('hello '), 6);
      return f.finish();
    })();
    assert.ok(sha256State);
    assert.equal(sha256OfState({ offset: 6, sha256State } as StreamRecord), sha256(Buffer.from('hello ')));
    assert.equal(sha256OfState({ offset: 11, sha256State } as StreamRecord), undefined, 'stale: not used');
  },
);

it('uploads folded at once do not mix; a fold dropped half way leaves the others right', async () => {
  const folds = new HashFolds();
  const files = [1, 2, 3].map((i) => randomBytesSeeded(3 * 1024 * 1024 + i * 1111, 10 + i));
  const dropped = folds.begin(null, null);
  await feed(dropped, randomBytesSeeded(2 * 1024 * 1024, 9), 300_000);
  dropped.drop();
  const results = await Promise.all(
    files.map(async (data) => {
      const fold = folds.begin(null, null);
      await feed(fold, data, 100_000);
      return (await fold.finish()).md5;
    }),
  );
  assert.deepEqual(
    results,
    files.map((d) => md5(d)),
  );
});

it('an append fed faster than the threads hash is asked to wait, and nothing is lost', async () => {
  const fold = new HashFolds().begin(null, null);
  const data = randomBytesSeeded(64 * 1024 * 1024, 21);
  // Pieces of 4 MiB posted back to back: the threads cannot hash 64 MiB as fast as they are
  // copied. A block is filled again only once both threads have hashed it: the SHA-256 thread
  // runs ahead of the MD5 one, and a block refilled on its word alone would change the MD5.
  const waits = await feed(fold, data, 4 * 1024 * 1024);
  assert.ok(waits > 0, 'the fold asked to wait at least once');
  const r = await fold.finish();
  assert.equal(r.md5, md5(data));
  if (nativeSha256) assert.equal(r.sha256, sha256(data));
});

it('an empty append keeps the state: its finish answers the MD5 so far', async () => {
  const folds = new HashFolds();
  const first = folds.begin(null, null);
  await feed(first, Buffer.from('hello'), 5);
  const { md5State } = await first.finish();
  const empty = folds.begin(md5State, null);
  assert.equal((await empty.finish()).md5, md5(Buffer.from('hello')));
});
