/**
 * A linear scan of JSON bytes as they arrive, before JSON.parse sees them. JSON.parse is fast on
 * what a handshake looks like, and slow on shapes a handshake never has: 4.8 MB of `[[[[…` blocked
 * the event loop ~2.1 s, millions of `0,` or an object of 100,000 distinct keys several hundred ms.
 * The scan refuses those shapes in O(bytes), keeping only a few counters (no tokens are built):
 * - nesting deeper than `maxDepth` (a handshake is depth 2: the object, its chunkIds array);
 * - more than `maxContainers` objects and arrays (a handshake has two; `[[[0]]],` × 100,000 parsed
 *   in 80–230 ms);
 * - more than `maxValues` separators in all (a handshake holds maxChunks ids and a few fields);
 * - an object of more than `maxMembers` members (the handshake has six fields);
 * - a bare token (number, true…) longer than `maxToken` characters (sizes have at most 16 digits).
 * Strings are not bounded here: the body's size cap bounds them, and JSON.parse copies them fast.
 *
 * Measured on the 2-core CI machine (Node 20, shared with other jobs, best of 5): a 100,000-id
 * handshake (4.0 MB) scans in 6–10 ms, spread over its 64 KiB pieces as they arrive, then parses in
 * 13–29 ms (up to ~60 ms on a cold first run under load). The worst bodies the scan lets through
 * at the 4.7 MiB cap, 100,000 strings full of \u escapes or of 24-digit numbers, parse in 21–48 ms.
 */
import { TransferError } from '../../protocol/errors.js';

export interface JsonShapeLimits {
  maxDepth: number;
  /** Objects and arrays in all. */
  maxContainers: number;
  /** Separators (commas) in all. */
  maxValues: number;
  maxMembers: number;
  maxToken: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** How many backslashes end bytes[from..to) (to exclusive). */
function backslashesBefore(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let j = to - 1; j >= from && bytes[j] === BACKSLASH; j--) n++;
  return n;
}

export class JsonShapeGuard {
  private inString = false;
  /** Inside a string, the next byte is escaped (a chunk ended on an odd run of backslashes). */
  private escaped = false;
  private containers = 0;
  private values = 0;
  private token = 0;
  /** Per open container: -1 for an array, else the separators of the object so far. */
  private readonly open: number[] = [];

  constructor(private readonly limits: JsonShapeLimits) {}

  /** Scans the next bytes; throws MALFORMED_BODY or BODY_TOO_LARGE as soon as a bound is passed. */
  feed(bytes: Uint8Array): void {
    const len = bytes.length;
    let i = 0;
    while (i < len) {
      if (this.inString) i = this.skipString(bytes, i);
      else i = this.structural(bytes, i);
    }
  }

  /**
   * From inside a string to just past its closing quote (or the end of the bytes). The quote is
   * found natively; it closes the string when an even run of backslashes precedes it (a run that
   * follows any other byte starts on an escape boundary).
   */
  private skipString(bytes: Uint8Array, from: number): number {
    let i = from;
    if (this.escaped) {
      this.escaped = false;
      i++;
    }
    for (;;) {
      const q = bytes.indexOf(QUOTE, i);
      if (q < 0) {
        this.escaped = backslashesBefore(bytes, i, bytes.length) % 2 === 1;
        return bytes.length;
      }
      if (backslashesBefore(bytes, i, q) % 2 === 0) {
        this.inString = false;
        return q + 1;
      }
      i = q + 1;
    }
  }

  /** Outside strings, byte by byte, up to the next string (or the end of the bytes). */
  private structural(bytes: Uint8Array, from: number): number {
    const { maxDepth, maxContainers, maxValues, maxMembers, maxToken } = this.limits;
    const open = this.open;
    for (let i = from; i < bytes.length; i++) {
      const b = bytes[i]!;
      switch (b) {
        case QUOTE:
          this.inString = true;
          this.token = 0;
          return i + 1;
        case 0x7b: // {
        case 0x5b: // [
          if (open.length >= maxDepth) {
            throw new TransferError('MALFORMED_BODY', `JSON nested deeper than ${maxDepth} levels.`);
          }
          if (++this.containers > maxContainers) {
            throw new TransferError(
              'MALFORMED_BODY',
              `The JSON holds more than ${maxContainers} objects or arrays.`,
            );
          }
          open.push(b === 0x7b ? 0 : -1);
          this.token = 0;
          break;
        case 0x7d: // }
        case 0x5d: // ]
          open.pop();
          this.token = 0;
          break;
        case 0x2c: {
          // ,
          if (++this.values > maxValues) {
            throw new TransferError('BODY_TOO_LARGE', `The JSON holds more than ${maxValues} values.`);
          }
          const top = open.length - 1;
          const separators = open[top];
          if (separators !== undefined && separators >= 0) {
            if (separators + 2 > maxMembers) {
              throw new TransferError('MALFORMED_BODY', `A JSON object has more than ${maxMembers} members.`);
            }
            open[top] = separators + 1;
          }
          this.token = 0;
          break;
        }
        case 0x20:
        case 0x09:
        case 0x0a:
        case 0x0d:
        case 0x3a: // :
          this.token = 0;
          break;
        default:
          if (++this.token > maxToken) {
            throw new TransferError('MALFORMED_BODY', `A JSON token is longer than ${maxToken} characters.`);
          }
      }
    }
    return bytes.length;
  }
}

/** The shape of a handshake body, for a server that accepts plans of up to `maxChunks` ids. */
export function handshakeJsonLimits(maxChunks: number): JsonShapeLimits {
  return { maxDepth: 4, maxContainers: 256, maxValues: maxChunks + 1024, maxMembers: 64, maxToken: 24 };
}

/** Checks a whole JSON text, then parses it. */
export function parseGuardedJson(text: string, limits: JsonShapeLimits): unknown {
  new JsonShapeGuard(limits).feed(Buffer.from(text, 'utf8'));
  return JSON.parse(text);
}
