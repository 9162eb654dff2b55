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
