/**
 * Who holds what: the incomplete upload sessions (sessions.ts usageEntry: an upload may have one
 * per requester), each with the client whose handshake opened it and the bytes it holds (its plan
 * and the chunks it sent), so the caps (uploads at once, per client and in all) and the quotas
 * (incomplete bytes, per client and in all) are checked without reading the store. The entries
 * are few (the caps bound them: ~100 bytes each) and rebuilt from the store (the plans record
 * their client) before the first request that needs them.
 */
import { TransferError } from '../protocol/errors.js';
import type { Storage, UploadPlan } from '../storage/storage.js';
import type { ResolvedLimits } from './context.js';

/** Plans written before clients were recorded, and in-process callers that name none. */
export const UNKNOWN_CLIENT = 'unknown';

/** A plan on disk: ~36 bytes per chunk id (JSON), counted against its client's quota too. */
export function planBytes(plan: Pick<UploadPlan, 'chunkIds'>): number {
  return 256 + plan.chunkIds.length * 36;
}

/**
 * The key a client's caps are counted under: an IPv4 address (also when mapped into IPv6), or the
 * /64 of an IPv6 address (one host usually has a whole /64 to pick addresses from).
 */
export function clientKey(address: string | undefined): string {
  if (!address) return UNKNOWN_CLIENT;
  const v4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (v4?.[1]) return v4[1];
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const groups = [...head.split(':').filter(Boolean)];
  const rest = tail.split(':').filter(Boolean);
  while (groups.length + rest.length < 8) groups.push('0');
  return `${[...groups, ...rest].slice(0, 4).join(':')}::/64`;
}

interface Held {
  client: string;
  bytes: number;
}

interface Totals {
  uploads: number;
  bytes: number;
}

export class UploadUsage {
  private readonly uploads = new Map<string, Held>();
  private readonly clients = new Map<string, Totals>();
  private readonly all: Totals = { uploads: 0, bytes: 0 };
  private loaded: Promise<void> | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly limits: ResolvedLimits,
  ) {}

  /** Resolves once the counts reflect the store (read once, at the first request). */
  ready(): Promise<void> {
    this.loaded ??= this.rebuild().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  private async rebuild(): Promise<void> {
    for await (const u of this.storage.listUploads()) {
      const plans = await this.storage.listPlans(u.fileId);
      // The held chunks count for the first session (who sent which is not recorded).
      let chunks = 0;
      for (const size of (await this.storage.heldChunks(u.fileId)).values()) chunks += size;
      for (const plan of plans) {
        const entry = `${u.fileId}/${plan.session ?? '-'}`;
        if (this.uploads.has(entry)) continue;
        this.add(entry, plan.client ?? UNKNOWN_CLIENT, planBytes(plan) + chunks);
        chunks = 0;
      }
    }
  }

  /** Incomplete uploads and the bytes they hold, in all (for /metrics). */
  totals(): { uploads: number; bytes: number } {
    return { ...this.all };
  }

  /** The client counted for an upload session, if it is incomplete and known. */
  ownerOf(entry: string): string | undefined {
    return this.uploads.get(entry)?.client;
  }

  bytesOf(entry: string): number {
    return this.uploads.get(entry)?.bytes ?? 0;
  }

  /** How many sessions the upload `key` has (usage entries are `<key>/<session>`). */
  sessionsOf(key: string): number {
    let n = 0;
    for (const entry of this.uploads.keys()) if (entry.startsWith(`${key}/`)) n++;
    return n;
  }

  /** Every session of the upload is gone (published, abandoned, expired, dropped). */
  removeUpload(key: string): void {
    for (const entry of [...this.uploads.keys()]) if (entry.startsWith(`${key}/`)) this.remove(entry);
  }

  /** Counts a new incomplete upload session for its client, or refuses it (429 TOO_MANY_UPLOADS). */
  admit(entry: string, client: string, bytes: number): void {
    if (this.uploads.has(entry)) return;
    const mine = this.clients.get(client)?.uploads ?? 0;
    if (this.all.uploads >= this.limits.maxOpenUploads) {
      throw new TransferError(
        'TOO_MANY_UPLOADS',
        `The server holds ${this.all.uploads} incomplete uploads, its limit.`,
      );
    }
    if (mine >= this.limits.maxUploadsPerClient) {
      throw new TransferError(
        'TOO_MANY_UPLOADS',
        `You have ${mine} incomplete uploads, the limit per client; finish or abandon some first.`,
      );
    }
    this.checkQuota(client, bytes);
    this.add(entry, client, bytes);
  }

  /**
   * Refuses `more` bytes for an upload of this client when they would pass its quota or the
   * total one (507 QUOTA_EXCEEDED).
   */
  checkQuota(client: string | undefined, more: number): void {
    if (this.all.bytes + more > this.limits.maxIncompleteBytes) {
      throw new TransferError('QUOTA_EXCEEDED', 'Incomplete uploads fill the space the server gives them.');
    }
    const mine = client === undefined ? 0 : (this.clients.get(client)?.bytes ?? 0);
    if (client !== undefined && mine + more > this.limits.maxIncompleteBytesPerClient) {
      throw new TransferError(
        'QUOTA_EXCEEDED',
        `Your incomplete uploads would hold ${mine + more} bytes, over ${this.limits.maxIncompleteBytesPerClient}.`,
      );
    }
  }

  /** A session's held bytes changed by `delta` (a chunk committed, a plan replaced). */
  grow(entry: string, delta: number): void {
    const u = this.uploads.get(entry);
    if (!u) return;
    u.bytes += delta;
    this.all.bytes += delta;
    const c = this.clients.get(u.client);
    if (c) c.bytes += delta;
  }

  /**
   * After chunks of an upload went while the sessions that sent them go on (a failing plan takes
   * every chunk it lists, drop-plan.ts): its sessions left (`entries`) count no more chunk bytes in
   * all than the upload holds (`held`). Who sent which chunk is not recorded, but a session sends
   * only chunks its plan lists (CHUNK_NOT_IN_PLAN): one may lose at most its count beyond the held
   * bytes its plan lists (`heldListed`), so no session is cut below what it may still hold; the
   * excess comes off those that can lose the most first. One session may stay over-counted (it
   * sent chunks under an earlier plan of its own) until it ends; none is under-counted.
   */
  trimTo(entries: readonly { entry: string; planBytes: number; heldListed: number }[], held: number): void {
    const counted = entries
      .filter((e) => this.uploads.has(e.entry))
      .map((e) => {
        const chunks = Math.max(0, this.bytesOf(e.entry) - e.planBytes);
        return { entry: e.entry, chunks, loss: Math.max(0, chunks - e.heldListed) };
      })
      .sort((a, b) => b.loss - a.loss);
    let excess = counted.reduce((sum, e) => sum + e.chunks, 0) - held;
    for (const e of counted) {
      if (excess <= 0) break;
      const cut = Math.min(excess, e.loss);
      this.grow(e.entry, -cut);
      excess -= cut;
    }
  }

  /** The session is gone (abandoned; removeUpload for all of an upload's). */
  remove(entry: string): void {
    const u = this.uploads.get(entry);
    if (!u) return;
    this.uploads.delete(entry);
    this.all.uploads--;
    this.all.bytes -= u.bytes;
    const c = this.clients.get(u.client);
    if (!c) return;
    c.uploads--;
    c.bytes -= u.bytes;
    if (c.uploads <= 0) this.clients.delete(u.client);
  }

  private add(fileId: string, client: string, bytes: number): void {
    this.uploads.set(fileId, { client, bytes });
    this.all.uploads++;
    this.all.bytes += bytes;
    const c = this.clients.get(client) ?? { uploads: 0, bytes: 0 };
    c.uploads++;
    c.bytes += bytes;
    this.clients.set(client, c);
  }
}
