/**
 * Receives one chunk: multipart/form-data with `file`, `chunkId` and `fileId` in ANY order (the
 * course's client sends `file` first, so the bytes are staged before we know whose they are), or
 * a raw application/octet-stream body with the ids in the query string. Bytes stream to storage
 * while they are hashed; nothing is buffered whole.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import busboy from 'busboy';
import type { ChunkStager } from '../../core/chunk-placement.js';
import { TransferError } from '../../protocol/errors.js';
import { requestKey } from '../../protocol/ids.js';
import type { StagedChunk } from '../../storage/storage.js';
import { type ChecksummedBody, type ChecksumRef, checksummed, checksumRefOf } from './chunk-checksum.js';

export interface ReceivedChunk {
  fileId: string | undefined;
  /** The `sha256` extension field (the upload key's second half: PROTOCOL.md §Identifiers). */
  sha256: string | undefined;
  chunkId: string | undefined;
  /** The checksum form's fields (PROTOCOL.md §Chunk checksums), read before the bytes. */
  ref: ChecksumRef | undefined;
  /** Set when the bytes went through the checksum of `ref`. */
  checked: ChecksummedBody | undefined;
  staged: StagedChunk | undefined;
}

/** The checksum form's fields as they were when the bytes began (undefined: the seed's form). */
function refOf(fields: ReadonlyMap<string, string>): ChecksumRef | undefined {
  return checksumRefOf({
    chunkId: fields.get('chunkId'),
    chunkIndex: fields.get('chunkIndex'),
    checksum: fields.get('checksum'),
  });
}

/**
 * Stages the bytes; those of a chunk named by its checksum go through the checksum on the way, and
 * its index places it (chunk-placement.ts).
 */
async function stageBody(
  stager: ChunkStager,
  body: Readable,
  key: unknown,
  chunkId: unknown,
  ref: ChecksumRef | undefined,
  requester: string | undefined,
): Promise<{ staged: StagedChunk; checked: ChecksummedBody | undefined }> {
  if (!ref) return { staged: await stager.stage(body, key, chunkId, requester), checked: undefined };
  const checked = await checksummed(body, ref);
  return { staged: await stager.stage(checked.body, key, undefined, requester, ref.index), checked };
}

/**
 * One function, over 60 lines, on purpose: busboy's handlers share one state (settled, the staging
 * promise, the file part), and only read together do they show that every path settles once and
 * discards a chunk staged for a request that failed.
 */
export function receiveMultipartChunk(
  req: IncomingMessage,
  stager: ChunkStager,
  requester?: string,
): Promise<ReceivedChunk> {
  const maxBytes = stager.limits.maxChunkSize;
  return new Promise((resolve, reject) => {
    const fields = new Map<string, string>();
    let staging: Promise<StagedChunk> | undefined;
    let ref: ChecksumRef | undefined;
    let checked: ChecksummedBody | undefined;
    let fileStream: Readable | undefined;
    let settled = false;
    let bb: busboy.Busboy;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      // Without more input the part never ends: end it, so staging fails and removes its temp file.
      fileStream?.destroy();
      // A chunk staged before the failure is not anyone's: remove it.
      staging?.then(
        (s) => stager.discard(s),
        () => undefined,
      );
      reject(err);
    };

    try {
      bb = busboy({
        headers: req.headers,
        // fileSize one past the limit, so the stager sees the overflow and refuses it.
        limits: { files: 1, fields: 16, fieldSize: 4096, parts: 32, fileSize: maxBytes + 1 },
      });
    } catch {
      reject(new TransferError('MALFORMED_BODY', 'Expected multipart/form-data with a boundary.'));
      return;
    }
    bb.on('field', (name, value) => {
      if (!fields.has(name)) fields.set(name, value);
    });
    bb.on('file', (name, stream) => {
      if (name !== 'file' || staging) {
        stream.resume();
        return;
      }
      fileStream = stream;
      // busboy also errors the part on a truncated form, possibly after staging let go of it.
      stream.on('error', () => undefined);
      try {
        ref = refOf(fields);
      } catch (err: unknown) {
        stream.resume();
        fail(err);
        return;
      }
      // Ids sent before the bytes (not the course's order) may let the core place them in the file.
      const key = requestKey(fields.get('fileId'), fields.get('sha256'));
      const body = stageBody(stager, stream, key, fields.get('chunkId'), ref, requester);
      staging = body.then((b) => {
        checked = b.checked;
        return b.staged;
      });
      staging.catch(fail);
    });
    bb.on('error', () => fail(new TransferError('MALFORMED_BODY')));
    bb.on('close', () => {
      if (settled) return;
      const done = staging ?? Promise.resolve(undefined);
      done.then((staged) => {
        if (settled) {
          if (staged) void stager.discard(staged);
          return;
        }
        // The checksum form names its fields before the bytes, which went through its checksum.
        const late = fields.has('chunkIndex') || fields.has('checksum');
        if (staged && !ref && late) {
          fail(new TransferError('INVALID_FIELD', 'chunkIndex and checksum come before the file part.'));
          return;
        }
        if (ref && fields.has('chunkId')) {
          fail(
            new TransferError('INVALID_FIELD', 'A chunk names either chunkId, or chunkIndex and checksum.'),
          );
          return;
        }
        let named = ref;
        if (!staged) {
          try {
            named = refOf(fields);
          } catch (err: unknown) {
            fail(err);
            return;
          }
        }
        settled = true;
        resolve({
          fileId: fields.get('fileId'),
          sha256: fields.get('sha256'),
          chunkId: fields.get('chunkId'),
          ref: named,
          checked,
          staged,
        });
      }, fail);
    });
    req.on('close', () => {
      if (!req.complete) fail(new TransferError('MALFORMED_BODY', 'The request body was cut off.'));
    });
    req.pipe(bb);
  });
}

/** A raw body; its ids come from the query string, still raw (the core validates them). */
export async function receiveRawChunk(
  req: IncomingMessage,
  stager: ChunkStager,
  fileId: unknown,
  chunkId: unknown,
  ref: ChecksumRef | undefined,
  requester?: string,
): Promise<{ staged: StagedChunk; checked: ChecksummedBody | undefined }> {
  const maxBytes = stager.limits.maxChunkSize;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new TransferError('CHUNK_TOO_LARGE');
  try {
    // Through a PassThrough: if the chunk is refused, the request itself is left intact so the
    // answer (413) can still be written on its socket while the rest is drained.
    const body = new PassThrough();
    // Staging may be over (refused, or failed) before the request closes: an error emitted then
    // has nobody listening, and must not become an uncaught exception that stops the server.
    body.on('error', () => undefined);
    req.pipe(body);
    req.once('close', () => {
      if (!req.complete && !body.destroyed) body.destroy(new Error('aborted'));
    });
    try {
      return await stageBody(stager, body, fileId, chunkId, ref, requester);
    } finally {
      req.unpipe(body);
    }
  } catch (err: unknown) {
    if (err instanceof TransferError) throw err;
    if (!req.complete)
      throw new TransferError('MALFORMED_BODY', 'The request body was cut off.', { cause: err });
    throw err;
  }
}
