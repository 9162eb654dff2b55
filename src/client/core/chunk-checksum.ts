/**
 * A chunk's checksum for a deferred upload that negotiated one (PROTOCOL.md §Chunk checksums):
 * xxh64 of the chunk's bytes, read in 1 MiB pieces into one buffer (nothing held whole). The
 * platform's upload() passes it in (UploadDeps.checksums); the core never imports hash-wasm.
 */
import { createXXHash64 } from 'hash-wasm';
import { formatChunkChecksum } from '../../protocol/chunk-checksum.js';
import { TransferError } from '../../protocol/errors.js';
import type { ByteSource } from './ports.js';

const PIECE = 1024 * 1024;

/** `xxh64:<16 hex digits>` of bytes start..end-1 of the source. */
export async function xxh64Checksum(source: ByteSource, start: number, end: number): Promise<string> {
  const hasher = await createXXHash64();
  hasher.init();
  if (source.readInto) {
    const piece = new Uint8Array(Math.min(PIECE, end - start));
    for (let at = start; at < end; ) {
      const n = await source.readInto(piece.subarray(0, Math.min(piece.length, end - at)), at);
      if (n === 0)
        throw new TransferError('LOCAL_IO', `${source.name} changed while it was sent (it is shorter)`);
      hasher.update(piece.subarray(0, n));
      at += n;
    }
  } else {
    hasher.update(await source.slice(start, end));
  }
  return formatChunkChecksum({ algorithm: 'xxh64', digest: hasher.digest('hex') });
}
