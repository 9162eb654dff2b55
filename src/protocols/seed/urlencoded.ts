/**
 * An application/x-www-form-urlencoded body parsed piece by piece as it arrives, so no single step
 * holds the event loop: URLSearchParams over a whole 4.8 MB body of short pairs took 0.7–1 s on
 * the CI machine, and ~100 ms for 95,000 chunkIds pairs. Here each piece of the body (≤ 64 KiB) is
 * split and decoded on its own, and the number of pairs is bounded.
 */
import { StringDecoder } from 'node:string_decoder';
import { TransferError } from '../../protocol/errors.js';

/** Like URLSearchParams: `+` is a space, percent escapes are UTF-8; a broken escape is kept as is. */
function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

export class UrlEncodedFields {
  private readonly decoder = new StringDecoder('utf8');
  /** The text since the last `&`, in the pieces it came in (joined once, when its `&` arrives). */
  private pending: string[] = [];
  private pairs = 0;
  readonly fields = new Map<string, string[]>();

  constructor(private readonly maxPairs: number) {}

  feed(bytes: Buffer): void {
    const text = this.decoder.write(bytes);
    const last = text.lastIndexOf('&');
    if (last < 0) {
      this.pending.push(text);
      return;
    }
    const complete = this.pending.join('') + text.slice(0, last);
    this.pending = [text.slice(last + 1)];
    for (const pair of complete.split('&')) this.add(pair);
  }

  end(): Map<string, string[]> {
    this.add(this.pending.join('') + this.decoder.end());
    this.pending = [];
    return this.fields;
  }

  private add(pair: string): void {
    if (pair === '') return;
    if (++this.pairs > this.maxPairs) {
      throw new TransferError('BODY_TOO_LARGE', `A form of more than ${this.maxPairs} fields.`);
    }
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decodeComponent(pair.slice(eq + 1));
    const list = this.fields.get(name);
    if (list) list.push(value);
    else this.fields.set(name, [value]);
  }
}
