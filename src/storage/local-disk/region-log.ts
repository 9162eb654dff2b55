/**
 * uploads/<id>/regions, the record of which in-place regions are held (a hand-written format:
 * it is the backend's own file).
 *
 *   "layout <size> <chunkSize>\n", then one "<index> <md5>\n" per held region.
 *
 * A record is appended and fdatasynced only after its region's bytes were fdatasynced (under
 * `--durability group`, both join the next group sync instead, and after a crash of the machine
 * every record is checked against its bytes: recovery.ts). A torn last line (a crash mid-append)
 * is dropped on load and the log rewritten whole.
 */
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { errno } from '../../io/fs-util.js';
import { isMd5Hex } from '../../protocol/ids.js';
import type { Durability } from './durability.js';
import type { RegionFiles } from './layout.js';

const RECORD = /^(\d{1,10}) ([0-9a-f]{32})$/;

/** What a log says: its layout, its records in order, and whether its last line was torn. */
export interface RegionLogContents {
  size: number;
  chunkSize: number;
  records: Array<[index: number, md5: string]>;
  torn: boolean;
}

/** Parses a log; undefined if it has no valid layout line (then nothing is held). */
export function parseRegionLog(text: string): RegionLogContents | undefined {
  const lines = text.split('\n');
  const layout = /^layout (\d{1,16}) (\d{1,16})$/.exec(lines[0] ?? '');
  if (!layout) return undefined;
  const records: Array<[number, string]> = [];
  // Every complete line but the first is a record; the text after the last newline is torn.
  for (const line of lines.slice(1, -1)) {
    const m = RECORD.exec(line);
    if (!m?.[1] || !m[2] || !isMd5Hex(m[2])) continue;
    records.push([Number(m[1]), m[2]]);
  }
  return { size: Number(layout[1]), chunkSize: Number(layout[2]), records, torn: !text.endsWith('\n') };
}

/** The log's text, or undefined if the upload has none. */
export async function readRegionLog(files: RegionFiles): Promise<string | undefined> {
  try {
    return await readFile(files.log, 'utf8');
  } catch (err: unknown) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes to one upload's log: whole rewrites and appended records. */
export class RegionLogWriter {
  /** An append failed part-way: the log is rewritten whole before the next record. */
  private tornTail = false;

  constructor(
    private readonly files: RegionFiles,
    private readonly size: number,
    private readonly chunkSize: number,
    private readonly durability: Durability,
  ) {}

  /** Replaces the log with the layout and these held regions (atomically, durably). */
  async rewrite(held: ReadonlyMap<number, string>): Promise<void> {
    const records = [...held].map(([i, m]) => `${i} ${m}\n`).join('');
    await this.durability.replaceFile(this.files.log, `layout ${this.size} ${this.chunkSize}\n${records}`);
    this.tornTail = false;
  }

  /** Appends one record (durable before it resolves); `held` is what a repair rewrites first. */
  async append(index: number, md5: string, held: ReadonlyMap<number, string>): Promise<void> {
    // After a failed append (ENOSPC mid-line), appending again could glue a new record onto the
    // torn one ("1" + "2 <md5>" reads as region 12): the log is first rewritten from memory.
    if (this.tornTail) await this.rewrite(held);
    const fh = await open(this.files.log, constants.O_WRONLY | constants.O_APPEND);
    try {
      const line = `${index} ${md5}\n`;
      await fh.write(line);
      await this.durability.wrote(fh, this.files.log, line.length);
    } catch (err: unknown) {
      this.tornTail = true;
      throw err;
    } finally {
      await fh.close();
    }
  }
}
