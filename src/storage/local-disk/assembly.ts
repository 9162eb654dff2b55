/**
 * Assembly: the verified whole file, published into files/.
 * - From plain chunks: read each chunk file and write the new file in tmp/, while the fold worker
 *   (fold-worker.ts) reads the same chunk files (from the page cache) for the MD5 and SHA-256: 2
 *   writes and 2 reads per byte end to end, the hashing off the event loop (it spent ~2 s of loop
 *   per GiB there, in 1 MiB slices, where every other request waited its turn).
 * - In place: fill the places whose chunk arrived elsewhere, finish the folded MD5 and SHA-256 and
 *   rename the upload's data file itself, 1 write and ~0 extra reads per byte.
 * Where it is published (or whether a file with these bytes is there already) is decided once the
 * digests are known (storage/publication.ts).
 * One upload may mix both kinds of chunk; in-place assembly copies the plain ones into place.
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { mapFsError, writeAt } from '../../io/fs-util.js';
import { TransferError } from '../../protocol/errors.js';
import { expectedMd5, type Publication, publicationOf } from '../publication.js';
import type { AssembleOptions, PublishedFile } from '../storage.js';
import { digestOf, type RegionSet, readRegion } from './chunk-regions.js';
import { WorkerFold } from './fold-worker.js';
import type { DiskLayout } from './layout.js';
import type { PlainChunks } from './plain-chunks.js';
import type { PublishedFiles } from './published-files.js';
import type { TempFiles } from './temp-files.js';

export class Assembler {
  constructor(
    private readonly layout: DiskLayout,
    private readonly temp: TempFiles,
    private readonly plain: PlainChunks,
    private readonly published: PublishedFiles,
  ) {}

  /** Checks the digests against expectedMd5 and the declared SHA-256; decides where the file goes. */
  private async verified(
    fileId: string,
    options: AssembleOptions,
    md5: string,
    sha256: string,
  ): Promise<Publication> {
    if (md5 !== expectedMd5(fileId, options)) throw new TransferError('FILE_MD5_MISMATCH');
    const declared = options.sha256 ?? null;
    if (declared !== null && declared !== sha256) throw new TransferError('FILE_SHA256_MISMATCH');
    const distinct = declared !== null || options.needsSha256 === true;
    return publicationOf(md5, sha256, distinct, (key) => this.published.stat(key));
  }

  /**
   * Concatenates the plain chunks into a new file, verifies it and publishes it; resolves with the
   * file the upload made (one published before with the same bytes, if any).
   */
  async fromChunks(fileId: string, options: AssembleOptions): Promise<PublishedFile | string> {
    const tmp = this.temp.claim('file');
    // The fold worker hashes each chunk file (from the page cache) while this thread copies it:
    // the two passes run on two cores, where both ran on the loop (the course's 1 MiB chunks:
    // see the figure in the class comment).
    const fold = new WorkerFold();
    try {
      const held = await this.plain.held(fileId);
      let size = 0;
      const fh = await this.temp.open(tmp);
      try {
        for (const md5 of options.md5s) {
          const path = this.layout.chunkPath(fileId, md5);
          const length = held.get(md5);
          // Not in the index: an assembly published the file and removed the upload since the
          // caller saw every chunk held. The core decides the answer (core/assembly.ts), as it
          // does for the S3 backend's same check.
          if (length === undefined)
            throw new TransferError('UPLOAD_NOT_FOUND', 'A chunk of the plan is gone.');
          fold.add(0, length, path);
          for await (const buf of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
            await writeAt(fh, buf as Buffer, size);
            size += (buf as Buffer).length;
          }
        }
        await fh.sync();
        if (options.expectedSize !== null && options.expectedSize !== size) {
          throw new TransferError('SIZE_MISMATCH');
        }
        // The worker could not read a chunk (it should not): hash the new file on this thread.
        const digest = (await fold.digest()) ?? (await digestOf(fh, size));
        const where = await this.verified(fileId, options, digest.md5, digest.sha256);
        if (where.kind === 'existing') return where.file;
        await fh.close();
        await this.published.publish(tmp, where.key, options, size, digest.sha256);
        return where.key;
      } finally {
        await fh.close().catch(() => undefined);
      }
    } catch (err: unknown) {
      throw mapFsError(err);
    } finally {
      fold.drop();
      // After publication the path is gone already: this only stops tracking it.
      await this.temp.release(tmp);
    }
  }

  /**
   * Fills each place whose chunk arrived elsewhere, finishes the whole-file MD5 and SHA-256, and
   * publishes the data file by renaming it (or resolves with the file published before with the
   * same bytes). Runs inside set.assemble (no region is being written).
   */
  async inPlace(fileId: string, set: RegionSet, options: AssembleOptions): Promise<PublishedFile | string> {
    try {
      const fh = await open(set.dataPath, 'r+');
      let where: Publication;
      let sha256: string;
      try {
        if (await this.fillPlaces(fh, set, fileId, options.md5s)) await fh.datasync();
        if ((await fh.stat()).size !== set.size) throw new TransferError('SIZE_MISMATCH');
        const digest = await set.finishFold(fh);
        sha256 = digest.sha256;
        where = await this.verified(fileId, options, digest.md5, sha256);
      } finally {
        await fh.close().catch(() => undefined);
      }
      if (where.kind === 'existing') return where.file;
      await this.published.publish(set.dataPath, where.key, options, set.size, sha256);
      set.markDead();
      return where.key;
    } catch (err: unknown) {
      throw mapFsError(err);
    }
  }

  /**
   * Copies into each place not held with its MD5 the bytes held under that MD5 elsewhere (another
   * region, or a plain chunk); resolves whether anything was written.
   */
  private async fillPlaces(
    fh: FileHandle,
    set: RegionSet,
    fileId: string,
    md5s: readonly string[],
  ): Promise<boolean> {
    const plain = await this.plain.held(fileId);
    let filled = false;
    for (let i = 0; i < set.count; i++) {
      const md5 = md5s[i]!;
      if (set.held.get(i) === md5) continue;
      const length = set.lengthOf(i);
      const j = set.holding(md5);
      let source: AsyncIterable<Buffer>;
      let plainFile: FileHandle | undefined;
      if (j !== undefined && set.lengthOf(j) === length) {
        source = readRegion(fh, set.offsetOf(j), length);
      } else if (plain.get(md5) === length) {
        plainFile = await open(this.layout.chunkPath(fileId, md5), 'r');
        source = readRegion(plainFile, 0, length);
      } else {
        // The chunk held under this MD5 cannot fill this place: the file cannot have this MD5.
        throw new TransferError('SIZE_MISMATCH');
      }
      try {
        let at = set.offsetOf(i);
        for await (const buf of source) {
          await writeAt(fh, buf, at);
          at += buf.length;
        }
      } finally {
        await plainFile?.close();
      }
      filled = true;
    }
    return filled;
  }
}
