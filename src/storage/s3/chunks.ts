/**
 * Chunks: staged under tmp/ while their MD5 is computed on the way to the store, then copied to
 * their content-addressed key under the upload by the store itself.
 */
import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { TransferError } from '../../protocol/errors.js';
import { isMd5Hex } from '../../protocol/ids.js';
import type { StagedChunk } from '../storage.js';
import type { Bucket } from './bucket.js';
import { mapS3Error } from './errors.js';
import { MIN_PART } from './limits.js';

type AnyCommand = Parameters<S3Client['send']>[0];

interface S3StagedChunk extends StagedChunk {
  readonly key: string;
}

/** Counts and hashes what passes; fails with CHUNK_TOO_LARGE past maxBytes. */
function measuring(maxBytes: number) {
  const hash = createHash('md5');
  let size = 0;
  const stream = new Transform({
    transform(buf: Buffer, _enc, done) {
      size += buf.length;
      if (size > maxBytes) {
        done(new TransferError('CHUNK_TOO_LARGE'));
        return;
      }
      hash.update(buf);
      done(null, buf);
    },
  });
  return { stream, result: () => ({ md5: hash.digest('hex'), size }) };
}

/**
 * The client as lib-storage uses it (only `send` and `config`), with its calls tied to `signal`:
 * lib-storage passes no signal of its own. The abort of a multipart upload is left free, so
 * what a cancelled staging wrote is still removed.
 */
function cancellable(client: S3Client, signal: AbortSignal): S3Client {
  const send = (command: AnyCommand, options?: { abortSignal?: AbortSignal }) =>
    client.send(
      command,
      command instanceof AbortMultipartUploadCommand ? options : { ...options, abortSignal: signal },
    );
  return { config: client.config, send } as unknown as S3Client;
}

export class Chunks {
  /** Staged keys owned by running requests in this process (never swept by this process). */
  readonly inFlight = new Set<string>();

  constructor(private readonly bucket: Bucket) {}

  async stage(body: Readable, maxBytes: number): Promise<StagedChunk> {
    const key = this.bucket.keys.newTemp();
    this.inFlight.add(key);
    const measured = measuring(maxBytes);
    // The HTTP client leaving (the body fails, or closes before its end) cancels the S3 calls.
    const abandoned = new AbortController();
    const abandon = (err: Error) => {
      measured.stream.destroy(err);
      abandoned.abort(err);
    };
    body.on('error', abandon);
    body.once('close', () => {
      if (!body.readableEnded) abandon(new Error('the chunk body was cut off'));
    });
    body.pipe(measured.stream);
    // Streamed in parts of 5 MiB: never the whole chunk in memory.
    const upload = new Upload({
      client: cancellable(this.bucket.client, abandoned.signal),
      params: { Bucket: this.bucket.name, Key: key, Body: measured.stream },
      partSize: MIN_PART,
      queueSize: 1,
      leavePartsOnError: false,
    });
    try {
      const out = await upload.done();
      const { md5, size } = measured.result();
      // A single PUT's ETag is the MD5 the store computed: it must be what we hashed.
      const etag = (out.ETag ?? '').replaceAll('"', '');
      if (isMd5Hex(etag) && etag !== md5)
        throw new TransferError('INTERNAL', 'the store holds other bytes than sent');
      const staged: S3StagedChunk = { md5, size, key };
      return staged;
    } catch (err: unknown) {
      await this.release(key);
      throw mapS3Error(err);
    }
  }

  /** Stages bytes held in memory, already hashed to `md5` (a part that lost its turn: part-uploads.ts). */
  async stageBytes(bytes: Buffer[], md5: string): Promise<StagedChunk> {
    const key = this.bucket.keys.newTemp();
    this.inFlight.add(key);
    const Body = Buffer.concat(bytes);
    try {
      await this.bucket.client.send(
        new PutObjectCommand({
          Bucket: this.bucket.name,
          Key: key,
          Body,
          ContentMD5: Buffer.from(md5, 'hex').toString('base64'),
        }),
      );
      const staged: S3StagedChunk = { md5, size: Body.length, key };
      return staged;
    } catch (err: unknown) {
      await this.release(key);
      throw mapS3Error(err);
    }
  }

  /** Files the staged chunk under the upload; false if the upload already held it. */
  async commit(staged: StagedChunk, fileId: string): Promise<boolean> {
    const { key } = staged as S3StagedChunk;
    try {
      const target = this.bucket.keys.chunk(fileId, staged.md5);
      if (await this.bucket.exists(target)) return false;
      // Server-side copy: the bytes do not pass through this process again.
      await this.bucket.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket.name,
          Key: target,
          CopySource: `${this.bucket.name}/${key}`,
        }),
        this.bucket.copyCall,
      );
      return true;
    } catch (err: unknown) {
      throw mapS3Error(err);
    } finally {
      await this.release(key);
    }
  }

  async discard(staged: StagedChunk): Promise<void> {
    await this.release((staged as S3StagedChunk).key);
  }

  /** MD5 → size of every chunk the upload holds. */
  async held(fileId: string): Promise<ReadonlyMap<string, number>> {
    const held = new Map<string, number>();
    const prefix = this.bucket.keys.chunks(fileId);
    try {
      for await (const o of this.bucket.list(prefix)) {
        const md5 = (o.Key ?? '').slice(prefix.length);
        if (isMd5Hex(md5)) held.set(md5, o.Size ?? 0);
      }
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
    return held;
  }

  /** Deletes these chunk objects of the upload, if held. */
  async remove(fileId: string, md5s: ReadonlySet<string>): Promise<void> {
    const held = await this.held(fileId);
    await this.bucket.deleteAll(
      [...md5s].filter((m) => held.has(m)).map((m) => this.bucket.keys.chunk(fileId, m)),
    );
  }

  /** The staged object is nobody's any more: delete it (a failure leaves it to the sweeper). */
  private async release(key: string): Promise<void> {
    this.inFlight.delete(key);
    await this.bucket.delete(key).catch(() => undefined);
  }
}
