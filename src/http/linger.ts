import type { IncomingMessage, ServerResponse } from 'node:http';
import { halfCloseAfterLastResponse } from './node-internals.js';

/**
 * An answer sent before the whole body was read (413, 404 on a raw chunk...) is lost if the
 * socket closes with unread input: the kernel answers the sender's next bytes with RST and the
 * client (browsers, fetch) reports a network error instead of our 4xx. So read and discard what
 * follows, as nginx's lingering close does, but only up to a bound in bytes and time.
 */
export function lingerOnUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  if (!socket || socket.destroyed) return;
  const maxBytes = 32 * 1024 * 1024;
  let extra = 0;
  const stop = () => socket.destroy();
  const timer = setTimeout(stop, 10_000);
  timer.unref();
  // The connection ends after this answer (what follows the unread body cannot be trusted to be
  // a request). node:http would destroy the socket as soon as the answer is written, with the
  // input still unread: the RST that causes could overtake the answer (seen in the chaos suite
  // with Connection: close). So it half-closes instead, and the socket is destroyed when the
  // client has finished sending, or at the bound (10 s, 32 MiB), like nginx's lingering close.
  if (!res.headersSent) res.setHeader('Connection', 'close');
  halfCloseAfterLastResponse(socket);
  socket.on('data', (b: Buffer) => {
    extra += b.length;
    if (extra > maxBytes) stop();
  });
  socket.once('end', stop);
  socket.once('close', () => clearTimeout(timer));
  req.resume();
  socket.resume();
}
