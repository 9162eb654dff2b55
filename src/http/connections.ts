/**
 * How many connections a process holds, in all and per client address (nginx's worker_connections
 * and limit_conn). Every connection is counted when accepted and released when closed.
 *
 * - Over the per-client cap, the new connection is answered 429 TOO_MANY_CONNECTIONS with
 *   Retry-After once its first bytes arrived (an answer written before the request would be lost
 *   by most clients), and closed. At most REFUSALS_ANSWERED refusals are being answered at once;
 *   beyond, and when nothing arrives within ANSWER_WAIT_MS, the connection is destroyed at once:
 *   a flood of refused connections costs a descriptor for a moment each, never an answer each.
 * - At the global cap, the connections that have no request running (idle keep-alive, silent or
 *   still sending headers) are closed, oldest first, to make room (nginx drains its reusable
 *   connections the same way); when none is idle the new connection is destroyed at once (nginx
 *   and Node's server.maxConnections do the same: there is no descriptor to spare for an answer).
 *
 * The global cap stays below the process's descriptor limit (`effectiveMaxConnections`), so
 * accepting connections can never leave the process without descriptors for its files (EMFILE
 * would turn into errors for everyone). A trusted proxy's connections (`--trust-proxy`) and the
 * owner's internal socket are not capped per client: their clients are behind them.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { clientKey } from '../core/usage.js';
import { TransferError } from '../protocol/errors.js';
import { normalizeAddress, type TrustedProxies } from './client-address.js';
import { rawErrorAnswer } from './client-error.js';

/** Descriptors kept for everything but connections: node itself, logs, the store, the library. */
export const RESERVED_DESCRIPTORS = 64;
/** Refusals being answered at once; more are destroyed without an answer. */
const REFUSALS_ANSWERED = 64;
/**
 * The refusal's bytes, made once: under the bench's attack mix, a TransferError and its answer
 * made for each of ~4,000 refused connections cost the event loop 0.13 s.
 */
let refusal: Buffer | undefined;
/** How long a refused connection may take to send its first bytes, then to finish sending. */
const ANSWER_WAIT_MS = 2000;
/** Idle connections closed at once when the global cap is reached (nginx closes up to 32). */
const DRAIN_BATCH = 32;

/** The soft RLIMIT_NOFILE from /proc/self/limits; undefined where it cannot be read. */
export function openFilesLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(text)?.[1];
  return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
}

/**
 * The configured cap, lowered to what the descriptor limit allows: each connection may hold one
 * more descriptor besides its socket (a download's file, an upload's data file), after a reserve.
 */
export function effectiveMaxConnections(configured: number, nofile = openFilesLimit()): number {
  if (nofile === undefined) return configured;
  return Math.max(1, Math.min(configured, Math.floor((nofile - RESERVED_DESCRIPTORS) / 2)));
}

export interface ConnectionLimits {
  /** Connections held at once by the process (already lowered by effectiveMaxConnections). */
  maxConnections: number;
  /** Per client address; 0: no cap. */
  maxConnectionsPerClient: number;
}

export interface ConnectionCounts {
  open: number;
  refusedClient: number;
  refusedFull: number;
  drained: number;
}

/** Shared by the servers of one process (the public one and the owner's internal one). */
export class ConnectionGate {
  private readonly perClient = new Map<string, number>();
  /** Connections without a running request, oldest first (a Map keeps insertion order). */
  private readonly idle = new Map<Socket, true>();
  private readonly busy = new WeakMap<Socket, number>();
  private readonly releases = new WeakMap<Socket, () => void>();
  private answering = 0;
  readonly counts: ConnectionCounts = { open: 0, refusedClient: 0, refusedFull: 0, drained: 0 };

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly trusted: TrustedProxies,
  ) {}

  /**
   * Takes a new connection, or refuses it (answering or destroying it). Returns whether it may go
   * on to node:http. `internal`: the owner's socket for the readers (no per-client cap).
   */
  admit(socket: Socket, internal: boolean): boolean {
    if (this.counts.open >= this.limits.maxConnections) this.drain();
    if (this.counts.open >= this.limits.maxConnections) {
      this.counts.refusedFull++;
      socket.destroy();
      return false;
    }
    // Keyed as the upload caps are (an IPv6 client counts by its /64).
    const trusted = internal || this.trusted.has(normalizeAddress(socket.remoteAddress));
    const key = trusted ? undefined : clientKey(socket.remoteAddress);
    const max = this.limits.maxConnectionsPerClient;
    if (key !== undefined && max > 0 && (this.perClient.get(key) ?? 0) >= max) {
      this.counts.refusedClient++;
      this.refuse(socket);
      return false;
    }
    this.counts.open++;
    if (key !== undefined) this.perClient.set(key, (this.perClient.get(key) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.counts.open--;
      this.idle.delete(socket);
      if (key === undefined) return;
      const n = (this.perClient.get(key) ?? 1) - 1;
      if (n > 0) this.perClient.set(key, n);
      else this.perClient.delete(key);
    };
    this.releases.set(socket, release);
    this.idle.set(socket, true);
    socket.once('close', release);
    return true;
  }

  /** A request began on this connection: it is not drained while any runs. */
  requestStarted(socket: Socket): void {
    this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
    this.idle.delete(socket);
  }

  /** A request ended (answered or cut): idle again, now the newest idle one. */
  requestEnded(socket: Socket): void {
    const n = (this.busy.get(socket) ?? 1) - 1;
    this.busy.set(socket, n);
    if (n <= 0 && !socket.destroyed) this.idle.set(socket, true);
  }

  /** Closes the oldest idle connections, released now (their 'close' comes on a later tick). */
  private drain(): void {
    let closed = 0;
    for (const socket of this.idle.keys()) {
      if (closed >= DRAIN_BATCH) break;
      this.releases.get(socket)?.();
      socket.destroy();
      closed++;
    }
    this.counts.drained += closed;
  }

  /** 429 with Retry-After once the client's first bytes arrived, then closed; bounded in time. */
  private refuse(socket: Socket): void {
    if (this.answering >= REFUSALS_ANSWERED) {
      socket.destroy();
      return;
    }
    this.answering++;
    const timer = setTimeout(() => socket.destroy(), ANSWER_WAIT_MS);
    timer.unref();
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.answering--;
      clearTimeout(timer);
    });
    // Read and drop what the client sends (a lingering close: unread input would make the kernel
    // reset the connection, and the client would see a reset instead of the 429).
    socket.on('data', () => {
      if (socket.writableEnded) return;
      refusal ??= Buffer.from(rawErrorAnswer(new TransferError('TOO_MANY_CONNECTIONS')));
      socket.end(refusal);
      timer.refresh();
    });
    socket.once('end', () => socket.destroy());
  }
}
