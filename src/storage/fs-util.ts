/** Small durable-file helpers for the local-disk backend. */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { TransferError } from '../protocol/errors.js';

/** fsync a directory so that a rename or unlink inside it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a small file durably and atomically: temp file, fsync, rename, fsync of the folder. */
export async function writeFileAtomic(
  path: string,
  dir: string,
  tmpDir: string,
  data: string,
): Promise<void> {
  const tmp = `${tmpDir}/${randomName()}.tmp`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (err: unknown) {
    await rm(tmp, { force: true });
    throw mapFsError(err);
  }
}

export function randomName(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

export function errno(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

/** Out-of-space errors become the protocol's 507; everything else passes through. */
export function mapFsError(err: unknown): unknown {
  const code = errno(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new TransferError('INSUFFICIENT_STORAGE', undefined, { cause: err });
  }
  return err;
}
