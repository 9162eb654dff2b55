/**
 * The CLI's download: the library's download() (where to write, folders made as needed), plus
 * what a command run again and again needs, as wget and aria2 do it:
 * - a finished download run again is recognised (the file's size and mtime are the server's size
 *   and Last-Modified, which completion set) and left alone: nothing is fetched;
 * - an existing file that is not this download is never overwritten unless `overwrite`: the
 *   download goes beside it as `name.1.ext`, `name.2.ext`… (aria2's auto-file-renaming), and a
 *   run again finds it there (finished, or its `.part` to resume).
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { TransferError } from '../../protocol/errors.js';
import { downloadTo } from '../core/download.js';
import { withCredentials } from '../core/http.js';
import type { DownloadInfo, DownloadOptions } from '../core/types.js';
import { FileTarget, holdsVersion } from './file-target.js';
import { httpFetch } from './http-fetch.js';
import { withIdentity } from './identity.js';

export interface DownloadFileOptions extends DownloadOptions {
  /**
   * fsync the file before it is renamed into place, and the progress record it resumes from
   * (default true: after a crash of the machine it resumes from what is on disk). false: never,
   * as aria2, curl and wget: faster where the disk is slow to sync; a killed process still
   * resumes (where the system has a boot id: Linux), a crash of the machine starts the download
   * over, and a file completed just before one may keep holes (as aria2's would).
   */
  sync?: boolean;
  /** A file path, or a folder (exists, or ends with /): the server's file name is used there. Default: the current folder. */
  destination?: string;
  /** Replace an existing file that is not this download (default: write beside it, numbered). */
  overwrite?: boolean;
}

export interface DownloadFileResult {
  path: string;
  /** The file was already there, complete: nothing was fetched. */
  alreadyComplete: boolean;
  /** Set when the path asked for held another file: the download went beside it (`path`). */
  insteadOf?: string;
}

/** Numbered names tried beside a file that is in the way. */
const MAX_NUMBERED = 10_000;

/** `name.ext` → `name.N.ext` (a name without extension: `name.N`). */
export function numberedName(path: string, n: number): string {
  if (n === 0) return path;
  const ext = extname(basename(path));
  return `${path.slice(0, path.length - ext.length)}.${n}${ext}`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The URL whose partial download `<path>.part.json` holds, if any. */
async function partOf(path: string): Promise<string | undefined> {
  try {
    const s = JSON.parse(await readFile(`${path}.part.json`, 'utf8')) as { url?: unknown };
    return typeof s.url === 'string' ? s.url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where this download goes: the path asked for if free (or if it already holds this very
 * version, or overwrite); else the first numbered name that is free or already holds it, skipping
 * names whose unfinished `.part` belongs to another URL.
 */
async function choosePath(
  url: string,
  wanted: string,
  info: DownloadInfo,
  overwrite: boolean,
): Promise<string> {
  if (overwrite) return wanted;
  for (let n = 0; n < MAX_NUMBERED; n++) {
    const path = numberedName(wanted, n);
    if (await holdsVersion(path, info)) return path;
    if (await exists(path)) continue;
    const owner = await partOf(path);
    if (owner === undefined || owner === url) return path;
  }
  throw new TransferError('LOCAL_IO', `${wanted} and ${MAX_NUMBERED - 1} numbered names beside it are taken`);
}

/** The Node transport: our HTTP fetch (or the caller's) with the identity headers and credentials. */
export function nodeTransport(
  options: { fetch?: typeof fetch | undefined } & Parameters<typeof withCredentials>[1],
) {
  return withCredentials(withIdentity(options.fetch ?? httpFetch), options);
}

/**
 * The path a download of `name` is written to: `destination` itself, or `destination/name` when
 * it is a folder (exists, or ends with /). Like aria2's -d and curl's --create-dirs, a folder that
 * does not exist yet is made.
 */
export async function destinationPath(destination: string | undefined, name: string): Promise<string> {
  const dest = destination ?? '.';
  const isDir =
    dest.endsWith('/') ||
    (await stat(dest).then(
      (s) => s.isDirectory(),
      () => false,
    ));
  const path = isDir ? join(dest, name) : dest;
  await mkdir(dirname(path), { recursive: true });
  return path;
}

export async function downloadFile(
  url: string,
  options: DownloadFileOptions = {},
): Promise<DownloadFileResult> {
  let wanted = '';
  let chosen = '';
  let alreadyComplete = false;
  const onProgress = options.onProgress;
  const path = await downloadTo(
    url,
    async (info) => {
      wanted = await destinationPath(options.destination, info.name);
      chosen = await choosePath(url, wanted, info, options.overwrite ?? false);
      return new FileTarget(chosen, options.sync);
    },
    {
      ...options,
      fetch: nodeTransport(options),
      onProgress: (p) => {
        if (p.alreadyComplete) alreadyComplete = true;
        onProgress?.(p);
      },
    },
  );
  return { path, alreadyComplete, ...(chosen !== wanted ? { insteadOf: wanted } : {}) };
}
