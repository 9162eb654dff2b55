/** Reading back persisted download progress (the control data), shared by every target. */
import type { DownloadState } from './ports.js';

/** Whether a parsed control file can be trusted: a torn or foreign file is not (start over). */
export function isDownloadState(v: unknown): v is DownloadState {
  const s = v as DownloadState;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.url === 'string' &&
    Number.isSafeInteger(s.size) &&
    Array.isArray(s.segments) &&
    s.segments.every((g) => g.start <= g.next && g.next <= g.end + 1)
  );
}

/** Bytes already written, over all segments. */
export function bytesDone(s: DownloadState): number {
  return s.segments.reduce((sum, g) => sum + (g.next - g.start), 0);
}

/**
 * The furthest progress two records of one download claim, segment by segment: the durable
 * record and a frequent one (which may be ahead of it, or a moment behind the latest durable
 * one). Both claim only bytes written to the same partial file. Undefined when the frequent
 * record is of another download or another plan of segments: then only the durable one counts.
 */
export function furthest(durable: DownloadState, recent: DownloadState): DownloadState | undefined {
  const same =
    recent.url === durable.url &&
    recent.size === durable.size &&
    recent.etag === durable.etag &&
    recent.lastModified === durable.lastModified &&
    recent.segments.length === durable.segments.length &&
    durable.segments.every(
      (d, i) => recent.segments[i]?.start === d.start && recent.segments[i]?.end === d.end,
    );
  if (!same) return undefined;
  return {
    ...durable,
    segments: durable.segments.map((d, i) => ({
      ...d,
      next: Math.max(d.next, recent.segments[i]?.next ?? 0),
    })),
  };
}
