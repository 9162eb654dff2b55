/**
 * HTTP Range (RFC 9110 §14) for both sides.
 *
 * Hand-written on purpose: the usual library (range-parser) answers "unsatisfiable" for
 * syntactically invalid sets such as `bytes=5-2` or `bytes=abc`, which RFC 9110 §14.2 says a
 * server must ignore (200 with the whole body), and it has no notion of an abusive set. The
 * grammar is small; getting these cases right is the whole point of the module.
 */

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export type RangeResult =
  | { kind: 'none' } // no header, malformed, unknown unit, or abusive: serve 200 with the whole body
  | { kind: 'unsatisfiable' } // 416 with Content-Range: bytes */LEN
  | { kind: 'ranges'; ranges: ByteRange[] }; // sorted, merged; one element → plain 206

export interface RangeLimits {
  /** More range-specs than this in one header is abusive. */
  maxRanges: number;
}

const DEFAULT_LIMITS: RangeLimits = { maxRanges: 64 };
const SPEC = /^(\d*)-(\d*)$/;

/** Parses a decimal string; numbers too long to be exact become MAX_SAFE_INTEGER (never NaN, never wraps). */
function toInt(digits: string): number {
  if (digits.length > 15) return Number.MAX_SAFE_INTEGER;
  return Number.parseInt(digits, 10);
}

export function parseRange(header: string | undefined, size: number, limits = DEFAULT_LIMITS): RangeResult {
  if (header === undefined) return { kind: 'none' };
  const eq = header.indexOf('=');
  if (eq < 0) return { kind: 'none' };
  if (header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'none' };
  const specs = header
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim())
    // RFC 9110 allows empty list elements (`bytes=0-1,,5-6`); skip them.
    .filter((s) => s.length > 0);
  if (specs.length === 0 || specs.length > limits.maxRanges) return { kind: 'none' };

  const satisfiable: ByteRange[] = [];
  let requested = 0;
  for (const spec of specs) {
    const m = SPEC.exec(spec);
    if (!m) return { kind: 'none' };
    const [, first = '', last = ''] = m;
    if (first === '' && last === '') return { kind: 'none' };
    if (first === '') {
      // suffix-range: the last N bytes.
      const n = toInt(last);
      requested += Math.min(n, size);
      if (n > 0 && size > 0) satisfiable.push({ start: Math.max(0, size - n), end: size - 1 });
      continue;
    }
    const start = toInt(first);
    const end = last === '' ? Number.MAX_SAFE_INTEGER : toInt(last);
    if (end < start) return { kind: 'none' }; // invalid syntax: the whole header is ignored
    if (start >= size) continue; // unsatisfiable on its own
    const clamped = Math.min(end, size - 1);
    requested += clamped - start + 1;
    satisfiable.push({ start, end: clamped });
  }
  // An empty representation has no bytes to select: serve it whole (200, Content-Length 0).
  if (size === 0) return { kind: 'none' };
  if (satisfiable.length === 0) return { kind: 'unsatisfiable' };
  // Asking for more bytes than the file holds (overlaps used as amplification) is abusive.
  if (specs.length > 1 && requested > size) return { kind: 'none' };
  return { kind: 'ranges', ranges: mergeRanges(satisfiable) };
}

/** Sorts and merges overlapping or adjacent ranges. */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

export function formatContentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

export interface ContentRange {
  start: number;
  end: number;
  /** undefined when the server sent `*` for the complete length. */
  size: number | undefined;
}

/** Parses a 206's `Content-Range: bytes a-b/LEN` (client side). */
export function parseContentRange(header: string | null | undefined): ContentRange | undefined {
  if (!header) return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(header);
  if (!m?.[1] || !m[2] || !m[3]) return undefined;
  const start = toInt(m[1]);
  const end = toInt(m[2]);
  if (end < start) return undefined;
  return { start, end, size: m[3] === '*' ? undefined : toInt(m[3]) };
}
