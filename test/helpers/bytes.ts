/** Deterministic test data and hashing helpers. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { ByteSource } from '../../src/client/core/ports.js';

export function md5(data: Uint8Array | string): string {
  return createHash('md5').update(data).digest('hex');
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const buf of createReadStream(path)) h.update(buf as Buffer);
  return h.digest('hex');
}

/** Pseudo-random bytes from a seed (xorshift), so failures reproduce. */
export function randomBytesSeeded(size: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i + 4 <= size) buf.writeUInt32LE(x, i);
    else for (let j = i; j < size; j++) buf[j] = (x >>> ((j - i) * 8)) & 0xff;
  }
  return buf;
}

export async function writeRandomFile(path: string, size: number, seed = 1): Promise<string> {
  const data = randomBytesSeeded(size, seed);
  await writeFile(path, data);
  return md5(data);
}

export interface Chunked {
  fileId: string;
  chunks: Buffer[];
  chunkIds: string[];
}

/** Cuts a buffer the way the course client does: fixed-size chunks, id = MD5 + index. */
export function cut(data: Buffer, chunkSize = 1024 * 1024): Chunked {
  const chunks: Buffer[] = [];
  for (let i = 0; i < Math.max(1, Math.ceil(data.length / chunkSize)); i++) {
    chunks.push(data.subarray(i * chunkSize, (i + 1) * chunkSize));
  }
  return { fileId: md5(data), chunks, chunkIds: chunks.map((c, i) => md5(c) + i) };
}

/** Bytes in memory as an upload source of the client library (no hash cache). */
export function memorySource(bytes: Uint8Array, name: string, type?: string): ByteSource {
  return {
    name,
    type,
    size: bytes.length,
    cacheKey: undefined,
    async *stream() {
      yield bytes;
    },
    slice: async (start, end) => bytes.subarray(start, end),
  };
}
