/**
 * The download library: one or more operator folders served under /download/<name>.
 * Only regular files directly inside a folder are served; dotfiles, sub-folders, and symlinks
 * that resolve outside their folder are 404. Names are single path segments: no separators,
 * no NUL, no leading dot, so a name can never walk out of its folder.
 */
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import mime from 'mime-types';
import { FdSource } from '../io/fd-source.js';
import type { LibraryEntry } from '../protocol/types.js';

export interface LibraryFile {
  source: FdSource;
  name: string;
  etag: string;
  contentType: string;
}

export function contentTypeFor(name: string): string {
  return mime.contentType(name) || 'application/octet-stream';
}

function validName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= 255 &&
    !name.startsWith('.') &&
    !name.includes('/') &&
    !name.includes('\\') &&
    !name.includes('\0')
  );
}

export class Library {
  private roots: string[] = [];

  constructor(private readonly dirs: readonly string[]) {}

  async init(): Promise<void> {
    this.roots = await Promise.all(this.dirs.map((d) => realpath(d)));
  }

  /** The real path of a servable file called `name` inside root, with its stat, or undefined. */
  private async resolve(root: string, name: string): Promise<{ path: string; st: Stats } | undefined> {
    const path = join(root, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st) return undefined;
    if (st.isFile()) return { path, st };
    if (!st.isSymbolicLink()) return undefined;
    const target = await realpath(path).catch(() => undefined);
    if (!target?.startsWith(root + sep)) return undefined;
    const tst = await lstat(target).catch(() => undefined);
    return tst?.isFile() ? { path: target, st: tst } : undefined;
  }

  async open(name: string): Promise<LibraryFile | undefined> {
    if (!validName(name)) return undefined;
    for (const root of this.roots) {
      // A regular file opens directly (O_NOFOLLOW refuses a symlink); only a symlink takes the
      // slower path that checks where it leads.
      const opened = FdSource.open(join(root, name)) ?? (await this.openLink(root, name));
      if (!opened) continue;
      // Strong validator from the inode, size and nanosecond mtime: it changes when the content
      // is rewritten or replaced, and is the same after a restart.
      const etag = `"${opened.ino.toString(16)}-${opened.source.size.toString(16)}-${opened.mtimeNs.toString(16)}"`;
      return { source: opened.source, name, etag, contentType: contentTypeFor(name) };
    }
    return undefined;
  }

  private async openLink(root: string, name: string) {
    const found = await this.resolve(root, name);
    return found && found.path !== join(root, name) ? FdSource.open(found.path) : undefined;
  }

  async list(baseUrl: string): Promise<LibraryEntry[]> {
    const seen = new Set<string>();
    const out: LibraryEntry[] = [];
    for (const root of this.roots) {
      let entries: Dirent[];
      try {
        entries = await readdir(root, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        if (seen.has(e.name) || !validName(e.name)) continue;
        const st = (await this.resolve(root, e.name))?.st;
        if (!st) continue;
        seen.add(e.name);
        out.push({
          name: e.name,
          size: st.size,
          url: `${baseUrl}/download/${encodeURIComponent(e.name)}`,
          type: contentTypeFor(e.name),
          mtime: st.mtime.toISOString(),
        });
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  }
}
