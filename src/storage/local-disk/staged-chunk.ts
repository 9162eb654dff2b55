/** What the local-disk backend's StagedChunk carries: where the bytes went. */
import type { FileHandle } from 'node:fs/promises';
import type { StagedChunk } from '../storage.js';
import type { RegionSet } from './chunk-regions.js';

/** A region of an upload's data file claimed by one request (released at commit or discard). */
export interface InPlaceClaim {
  set: RegionSet;
  fileId: string;
  index: number;
  fh: FileHandle;
  /** Its bytes are all written: assembly need not wait for the commit (which needs the lock). */
  written: () => void;
  release: () => void;
  /** Aborted when assembly will not wait for this writer any longer. */
  signal: AbortSignal;
}

export interface LocalStagedChunk extends StagedChunk {
  /** A plain chunk's temp file. */
  readonly path?: string;
  /** A chunk written at its place in uploads/<id>/data. */
  readonly inPlace?: InPlaceClaim;
}
