/**
 * The bench page for browser hashing (bundled by bench/browser-hash.ts): our worker pipeline
 * (whole-file MD5 and every chunk MD5 in one worker, the SHA-256 in another) against spark-md5 (the whole-file MD5 only,
 * the incremental ArrayBuffer way the course's page uses), over the same File.
 */
import SparkMD5 from 'spark-md5';
import { blobSource } from '../src/client/browser/blob-source.js';
import { workerHasher } from '../src/client/browser/worker-hasher.js';

const MiB = 1024 * 1024;

/** The file the bench picked through the page's file input: a real File on disk, as users have. */
function picked(): File {
  const file = document.querySelector('input')?.files?.[0];
  if (!file) throw new Error('no file picked');
  return file;
}

async function ours(): Promise<{ ms: number; fileId: string }> {
  const blob = picked();
  const t = performance.now();
  const h = await workerHasher(new URL('hash-worker.js', location.href))(
    blobSource(blob),
    4 * MiB,
    () => undefined,
  );
  return { ms: performance.now() - t, fileId: h.fileId };
}

async function spark(): Promise<{ ms: number; fileId: string }> {
  const blob = picked();
  const t = performance.now();
  const s = new SparkMD5.ArrayBuffer();
  for (let at = 0; at < blob.size; at += 8 * MiB) {
    s.append(await blob.slice(at, at + 8 * MiB).arrayBuffer());
  }
  const fileId = s.end();
  return { ms: performance.now() - t, fileId };
}

Object.assign(globalThis, { benchOurs: ours, benchSpark: spark });
document.body.dataset.ready = 'true';
