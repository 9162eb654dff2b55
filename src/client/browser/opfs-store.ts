/**
 * Downloads kept in the Origin Private File System, one pair per download in the folder
 * `resumable-transfer-downloads`: `<key>.part` (the bytes, written in place at their offsets) and
 * `<key>.json` (a StoredDownload: the control data, aria2-style). The key is the MD5 of the URL,
 * so calling download() again for a URL finds what it left. The page lists unfinished and
 * finished-but-unsaved downloads from here after a reload.
 */
import { md5 } from 'hash-wasm';
import { isDownloadState } from '../core/download-state.js';
import type { DownloadState } from '../core/ports.js';

export const DOWNLOADS_DIR = 'resumable-transfer-downloads';

export interface StoredDownload extends DownloadState {
  key: string;
  name: string;
  /** The bytes are all there and checked; the file waits to be saved. */
  complete: boolean;
}

/**
 * Downloads can be stored in the Origin Private File System: it exists, and so do Workers (its
 * synchronous access handles, which the download target writes through, exist only in a Worker).
 */
export function opfsAvailable(): boolean {
  return (
    typeof navigator !== 'undefined' &&
    typeof navigator.storage?.getDirectory === 'function' &&
    typeof Worker !== 'undefined'
  );
}

export async function downloadsDir(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DOWNLOADS_DIR, { create: true });
}

export function keyOf(url: string): Promise<string> {
  return md5(url);
}

function validState(v: unknown): v is StoredDownload {
  const s = v as StoredDownload;
  return isDownloadState(v) && typeof s.key === 'string' && typeof s.name === 'string';
}

export function parseStored(text: string): StoredDownload | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return validState(v) ? v : undefined;
  } catch {
    return undefined; // a torn write: the download starts over
  }
}

/** Every download kept here (unfinished or waiting to be saved). Entries being written are skipped. */
export async function listStoredDownloads(): Promise<StoredDownload[]> {
  if (!opfsAvailable()) return [];
  const dir = await downloadsDir();
  const out: StoredDownload[] = [];
  for await (const [name, handle] of dir as unknown as AsyncIterable<[string, FileSystemHandle]>) {
    if (!name.endsWith('.json') || handle.kind !== 'file') continue;
    try {
      const s = parseStored(await (await (handle as FileSystemFileHandle).getFile()).text());
      if (s) out.push(s);
    } catch {
      // locked by a running download
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The stored bytes of a download as a File (for the browser's own "save"). */
export async function storedFile(key: string, name: string): Promise<File> {
  const dir = await downloadsDir();
  const blob = await (await dir.getFileHandle(`${key}.part`)).getFile();
  return new File([blob], name, { type: blob.type });
}

export async function removeStoredDownload(key: string): Promise<void> {
  const dir = await downloadsDir();
  for (const suffix of ['.part', '.json']) {
    await dir.removeEntry(`${key}${suffix}`).catch(() => undefined);
  }
}
