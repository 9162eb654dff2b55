import type { IncomingMessage, ServerResponse } from 'node:http';
import { TransferError } from '../protocol/errors.js';
import { sendError } from './respond.js';

export interface BodyRateLimit {
  /** Bytes per second a request body must average over a window; 0: never checked. */
  minBodyRate: number;
  bodyRateWindowMs: number;
}

/**
 * Slow-loris bodies: a trickle of bytes defeats an idle timeout. Every window, the socket must
 * have received minRate bytes per second (Apache's mod_reqtimeout minrate); else 408 and close.
 * It watches socket.bytesRead, so it never touches the body stream the route is reading.
 */
export function guardBodyRate(req: IncomingMessage, res: ServerResponse, limit: BodyRateLimit): void {
  if (limit.minBodyRate <= 0 || req.method === 'GET' || req.method === 'HEAD' || req.complete) return;
  const socket = req.socket;
  let last = socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete || res.writableEnded) {
      clearInterval(timer);
      return;
    }
    const now = socket.bytesRead;
    if (now - last < (limit.minBodyRate * limit.bodyRateWindowMs) / 1000) {
      clearInterval(timer);
      res.setHeader('Connection', 'close');
      sendError(req, res, new TransferError('BODY_TOO_SLOW'));
      res.once('finish', () => socket.destroy());
      setTimeout(() => socket.destroy(), 1000).unref();
    }
    last = now;
  }, limit.bodyRateWindowMs);
  timer.unref();
  res.once('close', () => clearInterval(timer));
}
