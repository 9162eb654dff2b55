/**
 * Every touch of a Node.js internal in this code base, in one place. These are undocumented and
 * may change in any Node release; test/node-internals.test.ts checks each one against the running
 * Node on a real server and fails naming the one that changed. Each use degrades safely where it
 * can (an unexpected shape: the ordinary, documented way).
 *
 * Touched, and why:
 * - `socket._handle.fd`: the socket's descriptor, so sendfile(2) can copy a range from the page
 *   cache straight to it (serve-bytes.ts). Measured against the ordinary Buffer writes: one
 *   connection 2.2 → 3.4 GB/s, random 64 KiB ranges 12k → 24k req/s.
 * - `socket._handle.writeQueueSize`: bytes libuv still has to write. Bytes sent to the descriptor
 *   directly must come after them, so sendfile waits while any are queued.
 * - `socket._httpMessage`: the response that owns the socket now. A pipelined response still
 *   waiting for its turn must not write to the descriptor.
 * - `res.outputData`: what Node holds for a response before handing it to the socket (the head,
 *   until flushed). Same reason as writeQueueSize.
 * - `socket.destroySoon`: what node:http calls after the last response of a connection, ending
 *   it with unread input still in the socket; replaced to half-close instead (linger.ts).
 * - node:http's own 'connection' listener (the one `http.Server` adds in its constructor): moved
 *   behind the connection gate (connections.ts), so a refused connection never gets a parser and
 *   its bytes never reach a route. Without exactly that one listener, the gate runs beside it and
 *   destroys what it refuses, unanswered.
 * - `res._writeRaw`: writes bytes before the response's head, in order with a pipelined response
 *   (what `writeEarlyHints` uses for its 103). The IETF resumable uploads send a `104 Upload
 *   Resumption Supported` with it, which node:http has no method for (protocols/ietf/).
 */
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface SocketInternals {
  _handle?: { fd?: number; writeQueueSize?: number } | null;
  _httpMessage?: unknown;
  /** Public on tls.TLSSocket: sendfile would bypass the encryption. */
  encrypted?: boolean;
}

/**
 * The socket's descriptor, if bytes written to it now would follow everything this response
 * wrote so far: the socket is this response's (not a pipelined one still waiting), and nothing is
 * queued in Node or libuv. Checked at every use; anything unexpected: undefined, and the bytes go
 * the ordinary way.
 */
export function directSocketFd(res: ServerResponse): number | undefined {
  const sock = res.socket as (ServerResponse['socket'] & SocketInternals) | null;
  const handle = sock?._handle;
  if (!sock || sock.encrypted || sock._httpMessage !== res || !handle) return undefined;
  if (typeof handle.fd !== 'number' || handle.fd < 0) return undefined;
  const queued = (res as unknown as { outputData?: unknown[] }).outputData?.length ?? 0;
  if (sock.writableLength !== 0 || handle.writeQueueSize !== 0 || queued !== 0) return undefined;
  return handle.fd;
}

/**
 * Makes node:http half-close this connection after its last response instead of destroying it
 * (its `destroySoon`), so unread input cannot make the kernel send an RST that overtakes the
 * answer. The caller destroys the socket once the client finished sending (linger.ts).
 */
export function halfCloseAfterLastResponse(socket: Socket): void {
  socket.destroySoon = () => {
    if (!socket.writableEnded) socket.end();
  };
}

/**
 * Runs `admit` on every new connection before node:http sees it; a refused one (false) never
 * reaches node:http (`admit` answered or destroyed it).
 */
export function gateConnections(server: Server, admit: (socket: Socket) => boolean): void {
  const listeners = server.listeners('connection');
  const http = listeners[0];
  if (listeners.length !== 1 || typeof http !== 'function') {
    // Unexpected shape: gate beside node:http; what is refused is destroyed, not answered.
    server.prependListener('connection', (socket: Socket) => {
      if (!admit(socket)) socket.destroy();
    });
    return;
  }
  server.removeAllListeners('connection');
  server.on('connection', function gated(this: Server, socket: Socket) {
    if (admit(socket)) http.call(this, socket);
  });
}

/**
 * Sends an informational (1xx) response before the final one, as writeEarlyHints does for 103.
 * Resolves false, sending nothing, when it cannot (the head already went, an HTTP/1.0 client, or
 * the internal is not there): every 1xx is optional for the server.
 */
export function writeInformational(
  res: ServerResponse,
  status: number,
  reason: string,
  headers: Readonly<Record<string, string>>,
): boolean {
  const raw = (res as unknown as { _writeRaw?: (data: string, encoding: string) => boolean })._writeRaw;
  if (res.headersSent || typeof raw !== 'function' || res.req?.httpVersion !== '1.1') return false;
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    // Header values are ours (URLs, numbers): never a line break.
    if (/[\r\n]/.test(value)) return false;
    head += `${name}: ${value}\r\n`;
  }
  raw.call(res, `${head}\r\n`, 'latin1');
  return true;
}
