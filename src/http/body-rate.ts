import type { IncomingMessage, ServerResponse } from 'node:http';
import { TransferError } from '../protocol/errors.js';
import { sendError } from './respond.js';

export interface BodyRateLimit {
  /** Bytes per second a request body must send in every window; 0: never checked. */
  minBodyRate: number;
  bodyRateWindowMs: number;
  /** Bytes per second a body must average since it began, once the grace time passed; 0: never. */
  minBodyAverageRate: number;
  bodyRateGraceMs: number;
}

/** How often a running body is looked at, at most. */
const TICK_MS = 1000;

/**
 * Slow-loris bodies: a trickle of bytes defeats an idle timeout. Two checks, each answered 408
 * BODY_TOO_SLOW and the connection closed:
 * - every window, the socket must have received minBodyRate bytes per second (Apache's
 *   mod_reqtimeout minrate; nginx's client_body_timeout is the same idea between two reads);
 * - after the grace time, the average since the body began must stay at minBodyAverageRate:
 *   a drip just above the window's bar (600 B/s against 512) is cut after the grace time, and
 *   holding a connection for a time t costs a client t × the average rate in bytes.
 * Only the time this server was reading counts: while the route is not reading the body (it waits
 * for a lock, the disk or the store and the socket is paused), the client is not the slow one.
 * It watches socket.bytesRead, so it never touches the body stream the route is reading.
 */
export function guardBodyRate(req: IncomingMessage, res: ServerResponse, limit: BodyRateLimit): void {
  const windowOn = limit.minBodyRate > 0;
  const averageOn = limit.minBodyAverageRate > 0;
  if ((!windowOn && !averageOn) || req.method === 'GET' || req.method === 'HEAD' || req.complete) return;
  const socket = req.socket;
  const tickMs = Math.min(
    TICK_MS,
    windowOn ? limit.bodyRateWindowMs : TICK_MS,
    averageOn ? Math.max(limit.bodyRateGraceMs, 50) : TICK_MS,
  );
  /** Time the server was reading, and the bytes that came in it. */
  let readingMs = 0;
  let readBytes = 0;
  let windowStartMs = 0;
  let windowStartBytes = 0;
  let lastBytes = socket.bytesRead;
  let lastAt = performance.now();
  const cut = () => {
    clearInterval(timer);
    res.setHeader('Connection', 'close');
    sendError(req, res, new TransferError('BODY_TOO_SLOW'));
    res.once('finish', () => socket.destroy());
    setTimeout(() => socket.destroy(), 1000).unref();
    // The handler still reading the body must learn it ends here: once the answer is out,
    // node:http no longer aborts the request when its socket closes, and a chunk's staging then
    // waited for more bytes for ever, holding its temp file's descriptor (closed only by the
    // garbage collector: the warning seen under the bench's slow bodies) and a hash thread's ref.
    res.once('close', () => {
      if (!req.complete) req.destroy(new TransferError('BODY_TOO_SLOW'));
    });
  };
  const timer = setInterval(() => {
    if (req.complete || res.writableEnded) {
      clearInterval(timer);
      return;
    }
    const now = performance.now();
    const bytes = socket.bytesRead;
    // A paused socket: the server stopped reading (backpressure), the tick is not the client's.
    if (!socket.isPaused()) {
      readingMs += now - lastAt;
      readBytes += bytes - lastBytes;
    }
    lastAt = now;
    lastBytes = bytes;
    if (averageOn && readingMs >= limit.bodyRateGraceMs) {
      if ((readBytes * 1000) / readingMs < limit.minBodyAverageRate) return cut();
    }
    if (windowOn && readingMs - windowStartMs >= limit.bodyRateWindowMs) {
      const span = readingMs - windowStartMs;
      if (readBytes - windowStartBytes < (limit.minBodyRate * span) / 1000) return cut();
      windowStartMs = readingMs;
      windowStartBytes = readBytes;
    }
  }, tickMs);
  timer.unref();
  res.once('close', () => clearInterval(timer));
}
