/** Messages between the page and the download worker (see download-worker.ts). */
import type { ErrorCode } from '../../protocol/errors.js';
import type { Progress } from '../core/types.js';
import type { StoredResult } from './opfs-target.js';

export interface DownloadJob {
  type: 'start';
  url: string;
  connections?: number | undefined;
  retries?: number | undefined;
  minDelay?: number | undefined;
  maxDelay?: number | undefined;
  checkpointInterval?: number | undefined;
  /** The download's credential headers (DownloadOptions.headers). */
  headers?: Record<string, string> | undefined;
}

export type DownloadCommand = DownloadJob | { type: 'abort' };

export type DownloadReport =
  | { type: 'progress'; progress: Progress }
  | { type: 'done'; result: StoredResult }
  | { type: 'error'; code: ErrorCode; message: string; status: number };
