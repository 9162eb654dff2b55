import type { IncomingMessage, ServerResponse } from 'node:http';
import { halfCloseAfterLastResponse } from './node-internals.js';

/** What a lingering close reads and drops at most, and for how long (nginx: lingering_time). */
const LINGER_MAX_BYTES = 32 * 1024 * 1024;
const LINGER_MAX_MS = 10_000;

/**
 * An answer sent before the whole body was read (413, 404 on a raw chunk...) is lost if the
 * socket closes with unread input: the kernel answers the sender's next bytes with RST and the
 * client (browsers, fetch) reports a network error instead of our 4xx. So read and discard what
 * follows, as nginx's lingering close does, but only up to a bound in bytes and time.
 *
 * The rest is read through the request (node:http's parser), never with a 'data' listener on the
 * socket: such a listener detaches the parser from the socket (node:http's `unconsume`), and a
 * socket the parser had paused for backpressure then stayed paused for good on Node 20: the
 * client's bytes sat in our receive queue, the connection in FIN-WAIT-2 until the time bound, and
 * a client retrying 507s at once held 50+ such connections (test/linger.test.ts).
 */
export function lingerOnUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  if (!socket || socket.destroyed) return;
  let extra = 0;
  const stop = () => socket.destroy();
  const timer = setTimeout(stop, LINGER_MAX_MS);
  timer.unref();
  // The connection ends after this answer (what follows the unread body cannot be trusted to be
  // a request). node:http would destroy the socket as soon as the answer is written, with the
  // input still unread: the RST that causes could overtake the answer (seen in the chaos suite
  // with Connection: close). So it half-closes instead, and the socket is destroyed when the
  // client has finished sending (its body or the connection), or at the bound, like nginx's
  // lingering close.
  if (!res.headersSent) res.setHeader('Connection', 'close');
  halfCloseAfterLastResponse(socket);
  req.on('data', (b: Buffer) => {
    extra += b.length;
    if (extra > LINGER_MAX_BYTES) stop();
  });
  // The whole body read: nothing unread is left to cause an RST once the answer is out.
  req.once('end', () => {
    if (res.writableFinished) stop();
    else res.once('close', stop);
  });
  socket.once('end', stop);
  socket.once('close', () => clearTimeout(timer));
  req.resume();
}
