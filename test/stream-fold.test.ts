/**
 * The stream MD5 fold (core/stream-fold.ts): bytes hashed on its worker thread, the state saved
 * after each append and continued by the next, several uploads at once, and the append asked to
 * wait (never to buffer without bound) while the thread is behind.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { type Fold, md5OfState, StreamFolds } from '../src/core/stream-fold.js';
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

it('three appends, each continuing the saved state of the one before, fold the MD5 of the whole', async () => {
  const folds = new StreamFolds();
  const data = randomBytesSeeded(9 * 1024 * 1024 + 333, 5);
  const cuts = [0, 1_000_001, 6 * 1024 * 1024, data.length];
  let state: string | null = null;
  for (let i = 0; i < 3; i++) {
    const fold = folds.begin(state);
    await feed(fold, data.subarray(cuts[i], cuts[i + 1]), 64 * 1024 + 7);
    const r = await fold.finish();
    assert.equal(r.md5, md5(data.subarray(0, cuts[i + 1])), `after append ${i + 1}`);
    assert.equal(await md5OfState(r.md5State), r.md5, 'the saved state says the same MD5');
    state = r.md5State;
  }
});

it('uploads folded at once do not mix; a fold dropped half way leaves the others right', async () => {
  const folds = new StreamFolds();
  const files = [1, 2, 3].map((i) => randomBytesSeeded(3 * 1024 * 1024 + i * 1111, 10 + i));
  const dropped = folds.begin(null);
  await feed(dropped, randomBytesSeeded(2 * 1024 * 1024, 9), 300_000);
  dropped.drop();
  const results = await Promise.all(
    files.map(async (data) => {
      const fold = folds.begin(null);
      await feed(fold, data, 100_000);
      return (await fold.finish()).md5;
    }),
  );
  assert.deepEqual(
    results,
    files.map((d) => md5(d)),
  );
});

it('an append fed faster than the thread hashes is asked to wait, and nothing is lost', async () => {
  const fold = new StreamFolds().begin(null);
  const data = randomBytesSeeded(64 * 1024 * 1024, 21);
  // Pieces of 4 MiB posted back to back: the thread cannot hash 64 MiB as fast as they are copied.
  const waits = await feed(fold, data, 4 * 1024 * 1024);
  assert.ok(waits > 0, 'the fold asked to wait at least once');
  assert.equal((await fold.finish()).md5, md5(data));
});

it('an empty append keeps the state: its finish answers the MD5 so far', async () => {
  const folds = new StreamFolds();
  const first = folds.begin(null);
  await feed(first, Buffer.from('hello'), 5);
  const { md5State } = await first.finish();
  const empty = folds.begin(md5State);
  assert.equal((await empty.finish()).md5, md5(Buffer.from('hello')));
});
