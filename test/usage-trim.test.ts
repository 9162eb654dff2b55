/**
 * UploadUsage.trimTo: after a failing plan took chunks other sessions sent, the sessions left are
 * cut to what the upload holds, each no lower than the held bytes its own plan lists.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DEFAULT_UPLOAD_LIMITS, type ResolvedLimits } from '../src/core/context.js';
import { UploadUsage } from '../src/core/usage.js';
import type { Storage } from '../src/storage/storage.js';

const limits = { ...DEFAULT_UPLOAD_LIMITS, maxChunkSize: 1 << 30, maxChunks: 100_000 } as ResolvedLimits;
const PLAN = 500;

it('cuts the session that lost chunks, not the one that counts most but holds all it sent', () => {
  const usage = new UploadUsage({} as Storage, limits);
  // The owner sent 3 chunks of 100 (2 went with a stranger's failing plan); the other session
  // sent 5, all still held, and counts more.
  usage.admit('u/owner', '10.0.0.1', PLAN);
  usage.grow('u/owner', 300);
  usage.admit('u/other', '10.0.0.2', PLAN);
  usage.grow('u/other', 500);
  usage.trimTo(
    [
      { entry: 'u/owner', planBytes: PLAN, heldListed: 100 },
      { entry: 'u/other', planBytes: PLAN, heldListed: 500 },
    ],
    600,
  );
  assert.equal(usage.bytesOf('u/owner'), PLAN + 100);
  assert.equal(usage.bytesOf('u/other'), PLAN + 500, 'holds all it sent: not cut');
  assert.equal(usage.totals().bytes, 2 * PLAN + 600);
});

it('never cuts below what a plan lists as held, even if the counts stay over', () => {
  const usage = new UploadUsage({} as Storage, limits);
  usage.admit('u/a', '10.0.0.1', PLAN);
  usage.grow('u/a', 400);
  // Held 100, but the session's plan lists 300 of held chunks (sent by a session that went):
  // it may hold them, so it keeps 300.
  usage.trimTo([{ entry: 'u/a', planBytes: PLAN, heldListed: 300 }], 100);
  assert.equal(usage.bytesOf('u/a'), PLAN + 300);
});

it('changes nothing when the counts are within what is held', () => {
  const usage = new UploadUsage({} as Storage, limits);
  usage.admit('u/a', '10.0.0.1', PLAN);
  usage.grow('u/a', 200);
  usage.trimTo([{ entry: 'u/a', planBytes: PLAN, heldListed: 0 }], 500);
  assert.equal(usage.bytesOf('u/a'), PLAN + 200);
});
