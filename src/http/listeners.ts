/**
 * The public port, opened as several listening sockets that share it (SO_REUSEPORT), each feeding
 * new connections to the one HTTP server.
 *
 * Why: libuv (Node 20) accepts ONE connection per listening socket per turn of the event loop.
 * A client that reconnects as fast as it is refused (the slow-body attacker of the attack bench:
 * ~300 new connections a second) beside an upload that keeps the loop busy grew the accept queue
 * to 162–315 connections, and a legitimate client's new connection waited for its turn behind
 * them: handshake p99 695 ms, 5 s with the plan attacker too (`ss -ltn`, strace: one accept4
 * between two epoll_pwait). With LISTENERS sockets the kernel spreads new connections over as many
 * queues and each turn of the loop accepts one from each.
 *
 * Needs native/listen.c (Node 20 cannot open such sockets: net.Server's `reusePort` came in Node
 * 22.12) and a literal address; without them, or in a `--workers` process (node:cluster shares
 * the port through its primary), the port is one socket, as before.
 */
import cluster from 'node:cluster';
import { closeSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { loadAddon } from '../io/native-addon.js';

/** Sockets on the port: enough that the loop's accepts outpace a flood, few descriptors. */
export const LISTENERS = 8;
const BACKLOG = 511;

type ListenReusePort = (address: string, port: number, count: number, backlog: number) => number[] | number;

/** A descriptor no server took. */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {}
}

let addon: { listenReusePort: ListenReusePort } | null | undefined;

function reusePort(): ListenReusePort | undefined {
  if (addon === undefined) {
    addon = (loadAddon('rt_listen.node', ['listenReusePort']) as typeof addon) ?? null;
  }
  return addon?.listenReusePort;
}

function listenOn(server: Server | HttpServer, where: { fd: number } | { port: number; host: string }) {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Makes `server` listen on host:port. Resolves with the extra servers that feed it (closed by the
 * caller when it stops accepting), none when the port is one socket.
 */
export async function listenShared(server: HttpServer, port: number, host: string): Promise<Server[]> {
  const open = cluster.isWorker || isIP(host) === 0 ? undefined : reusePort();
  const fds = open?.(host, port, LISTENERS, BACKLOG);
  if (!Array.isArray(fds)) {
    await listenOn(server, { port, host });
    return [];
  }
  const [first, ...rest] = fds as [number, ...number[]];
  const feed = (socket: Socket) => server.emit('connection', socket);
  // The sockets node:http's own server would accept: no Nagle (a short answer after its head
  // waited ~45 ms for an ACK otherwise, measured), half-open allowed.
  const extra = rest.map(() => createServer({ noDelay: true, allowHalfOpen: true }, feed));
  const servers: (Server | HttpServer)[] = [server, ...extra];
  let tried = 0;
  try {
    for (const [i, s] of servers.entries()) {
      tried = i + 1;
      await listenOn(s, { fd: i === 0 ? first : rest[i - 1]! });
    }
  } catch (err: unknown) {
    // Those that listened close their own; those never tried are closed here. The one that
    // failed is left alone: closing a number its server may have closed could close another's.
    for (const s of servers.slice(0, tried - 1)) s.close();
    for (const fd of fds.slice(tried)) closeQuietly(fd);
    throw err;
  }
  // What goes wrong on a feeder (an accept that fails) is the server's, as on its own socket.
  for (const s of extra) s.on('error', (err) => server.emit('error', err));
  return extra;
}
