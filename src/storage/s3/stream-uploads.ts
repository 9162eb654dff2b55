/**
 * Byte-stream uploads in the bucket (the Storage.streams part). Objects written, under `<prefix>`:
 *
 *   streams/<id>/state.json        The record (stream-store.ts), with the list of part objects
 *                                  that hold its bytes in order. Created with If-None-Match: *,
 *                                  replaced only with If-Match: <the ETag it was read with>: two
 *                                  processes appending to one upload at once can both write
 *                                  their part, but only the first record write counts; the
 *                                  second deletes its part and answers the conflict (409).
 *   streams/<id>/parts/<start>-<r> The bytes of one append (PATCH), starting at byte <start> (16
 *                                  digits), streamed in 5 MiB multipart parts (never whole in
 *                                  memory). A part not in the record (a crash, a lost race, a
 *                                  refused checksum) is garbage, deleted with the upload.
 *
 * A client that goes mid-append: the body ends there, the object is completed with what arrived,
 * and it counts, as tus asks. Publication of a whole upload (and of a tus final upload, whose
 * parts are its partials' parts in order), in bytes through this process (N = file size):
 * - one part up to 5 GiB: CopyObject inside the store, 0 bytes;
 * - parts all ≥ 5 MiB but the last: UploadPartCopy, one per part, 0 bytes;
 * - files up to 8 MiB: read and written with one PutObject, N in + N out;
 * - otherwise (small PATCHes, e.g. a client with a 1 MiB chunkSize): read in order and
 *   re-uploaded as 8 MiB parts, N in + N out.
 * The MD5 and the SHA-256 (recorded in the object's metadata) were folded as the bytes arrived,
 * their states saved in the record, so whichever process appends continues them (no read for
 * either); only a record without a SHA-256 state (written before they were saved, or by a process
 * without native/sha256.c) has its parts read once more for it (N in), and a tus final upload
 * reads its partials once (N in) for both. Every object of an upload goes when it is published,
 * terminated or expired.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { TransferError } from '../../protocol/errors.js';
import type { PublishedFile } from '../storage.js';
import {
  type AppendOptions,
  isStreamId,
  type StreamAppend,
  type StreamPublish,
  type StreamRecord,
  type StreamStore,
  type StreamSummary,
} from '../stream-store.js';
import { type Bucket, type PutCondition, readBody } from './bucket.js';
import { mapS3Error } from './errors.js';
import { MAX_COPY_PART, MIN_PART, STREAM_PART } from './limits.js';
import { copyParts, multipartUpload, streamParts } from './multipart.js';
import type { PublishedFiles } from './published.js';

interface Part {
  key: string;
  size: number;
}

function partsOf(record: StreamRecord): Part[] {
  const store = record.store as { parts?: Part[] } | undefined;
  return store?.parts ?? [];
}

/** A body that ends where the client went, instead of failing: what arrived is kept. */
async function* untilCut(body: AsyncIterable<Buffer>, state: { cut: boolean }): AsyncIterable<Buffer> {
  try {
    for await (const buf of body) yield buf;
  } catch (err: unknown) {
    if (err instanceof TransferError) throw err;
    state.cut = true;
  }
}

export class S3Streams implements StreamStore {
  constructor(
    private readonly bucket: Bucket,
    private readonly files: PublishedFiles,
  ) {}

  private base(id: string): string {
    return `${this.bucket.keys.prefix}streams/${id}/`;
  }

  private stateKey(id: string): string {
    return `${this.base(id)}state.json`;
  }

  private async put(record: StreamRecord, condition: PutCondition): Promise<void> {
    const { version: _version, ...stored } = record;
    record.version = await this.bucket.putJson(this.stateKey(record.id), stored, condition);
  }

  create(record: StreamRecord): Promise<void> {
    return this.put(record, { IfNoneMatch: '*' });
  }

  async read(id: string): Promise<StreamRecord | undefined> {
    try {
      const res = await this.bucket.client.send(
        new GetObjectCommand({ Bucket: this.bucket.name, Key: this.stateKey(id) }),
      );
      const record = JSON.parse((await readBody(res.Body)).toString('utf8')) as StreamRecord;
      record.version = res.ETag;
      return record;
    } catch (err: unknown) {
      if (
        err instanceof S3ServiceException &&
        (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404)
      )
        return undefined;
      throw mapS3Error(err);
    }
  }

  write(record: StreamRecord): Promise<void> {
    return this.put(record, record.version ? { IfMatch: record.version } : {});
  }

  async append(
    record: StreamRecord,
    body: AsyncIterable<Buffer>,
    options: AppendOptions,
  ): Promise<StreamAppend> {
    const key = `${this.base(record.id)}parts/${String(record.offset).padStart(16, '0')}-${randomBytes(6).toString('hex')}`;
    const state = { cut: false };
    let bytes = 0;
    async function* measured(): AsyncIterable<Buffer> {
      for await (const buf of untilCut(body, state)) {
        if (bytes + buf.length > options.maxBytes) throw options.tooMany();
        const behind = options.onBytes(buf);
        if (behind) await behind;
        bytes += buf.length;
        yield buf;
      }
    }
    const upload = new Upload({
      client: this.bucket.client,
      params: { Bucket: this.bucket.name, Key: key, Body: Readable.from(measured()) },
      partSize: MIN_PART,
      queueSize: 1,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err: unknown) {
      await this.bucket.delete(key).catch(() => undefined);
      throw mapS3Error(err);
    }
    const discard = () => this.bucket.delete(key).catch(() => undefined);
    return {
      bytes,
      cut: state.cut,
      commit: async (next) => {
        const parts = partsOf(record);
        next.store = { parts: bytes > 0 ? [...parts, { key, size: bytes }] : parts };
        try {
          await this.write(next);
        } catch (err: unknown) {
          await discard();
          throw err;
        }
        if (bytes === 0) await discard();
      },
      discard,
    };
  }

  async *bytes(records: readonly StreamRecord[]): AsyncIterable<Buffer> {
    for (const record of records) {
      for (const part of partsOf(record)) {
        const res = await this.bucket.client.send(
          new GetObjectCommand({ Bucket: this.bucket.name, Key: part.key }),
        );
        for await (const buf of res.Body as Readable) yield buf as Buffer;
      }
    }
  }

  async publish(records: readonly StreamRecord[], file: StreamPublish): Promise<PublishedFile> {
    const parts = records.flatMap(partsOf);
    const Metadata = { name: encodeURIComponent(file.name ?? ''), ext: file.ext, sha256: file.sha256 };
    const Key = this.bucket.keys.file(file.fileId);
    const { client, name: Bucket } = this.bucket;
    try {
      const [only] = parts;
      if (file.size <= STREAM_PART) {
        const chunks: Buffer[] = [];
        for await (const buf of this.bytes(records)) chunks.push(buf);
        await client.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.concat(chunks), Metadata }));
      } else if (parts.length === 1 && only && only.size <= MAX_COPY_PART) {
        await client.send(
          new CopyObjectCommand({
            Bucket,
            Key,
            CopySource: `${Bucket}/${only.key}`,
            Metadata,
            MetadataDirective: 'REPLACE',
          }),
          this.bucket.copyCall,
        );
      } else if (
        parts.every((p, i) => p.size <= MAX_COPY_PART && (i === parts.length - 1 || p.size >= MIN_PART))
      ) {
        await multipartUpload(this.bucket, Key, Metadata, (UploadId) =>
          copyParts(
            this.bucket,
            Key,
            UploadId,
            parts.map((p) => p.key),
          ),
        );
      } else {
        await multipartUpload(this.bucket, Key, Metadata, (UploadId) =>
          streamParts(this.bucket, Key, UploadId, this.bytes(records)),
        );
      }
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
    const published = await this.files.stat(file.fileId);
    if (!published) throw new TransferError('INTERNAL', `published file ${file.fileId} is not visible`);
    return published;
  }

  async dropBytes(id: string): Promise<void> {
    await this.bucket.deleteUnder(`${this.base(id)}parts/`);
  }

  async remove(id: string): Promise<void> {
    await this.bucket.deleteUnder(this.base(id));
  }

  async *list(): AsyncIterable<StreamSummary> {
    const prefix = `${this.bucket.keys.prefix}streams/`;
    const last = new Map<string, number>();
    for await (const o of this.bucket.list(prefix)) {
      const id = (o.Key ?? '').slice(prefix.length).split('/')[0] ?? '';
      if (!isStreamId(id)) continue;
      last.set(id, Math.max(last.get(id) ?? 0, o.LastModified?.getTime() ?? 0));
    }
    for (const [id, lastActivity] of last) yield { id, lastActivity };
  }
}
