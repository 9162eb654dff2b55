/**
 * A file's layout in chunks (PROTOCOL.md §Handshake: `size` total bytes, `chunkSize` the bytes of
 * every chunk but the last): the one place its arithmetic is written. Not in ids.ts, which parses
 * identifiers off the wire; and not exported by the package's protocol entry (index.ts).
 */

/** How many chunks a file of `size` bytes has in `chunkSize` chunks: at least one (an empty file's). */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/** The bytes of chunk `index` (from 0) of that layout: `chunkSize`, the last one's the rest. */
export function chunkLength(size: number, chunkSize: number, index: number): number {
  return Math.min(chunkSize, size - index * chunkSize);
}
