/**
 * An HTTP proxy that slows chosen requests (request body and response body, bytes per second)
 * and counts the chunk bytes clients send, so browser tests get a "middle" to pause or reload in
 * and can assert how much was sent again. The page is loaded through it; thumbnails and the API
 * stay fast, only the matching requests crawl.
 */
import { Agent, createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface ThrottleProxy {
  url: string;
  /** Body bytes of POST /api/upload requests relayed so far. */
  chunkBytes: number;
  /** Bytes per second for a request, or 0 for full speed. Can be changed while running. */
  rule: (req: IncomingMessage) => number;
  close(): Promise<void>;
}

function throttle(rate: number): Transform {
  const start = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const pieces: Buffer[] = [];
      for (let at = 0; at < chunk.length; at += 16 * 1024) pieces.push(chunk.subarray(at, at + 16 * 1024));
      const next = () => {
        const piece = pieces.shift();
        if (!piece) {
          done();
          return;
        }
        sent += piece.length;
        this.push(piece);
        const wait = (sent / rate) * 1000 - (Date.now() - start);
        setTimeout(next, Math.max(0, wait));
      };
      next();
    },
  });
}

export async function startThrottleProxy(
  upstream: string,
  rule: (req: IncomingMessage) => number = () => 0,
): Promise<ThrottleProxy> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true });
  const state: ThrottleProxy = { url: '', chunkBytes: 0, rule, close: async () => undefined };
  const server = createServer((req, res) => {
    const rate = state.rule(req);
    const isChunk = req.method === 'POST' && (req.url ?? '').startsWith('/api/upload?');
    const up = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // Host is kept: the server builds its absolute URLs from it, and they must lead back here.
        headers: req.headers,
        agent,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        const steps = rate > 0 ? [upRes, throttle(rate), res] : [upRes, res];
        pipeline(steps).catch(() => res.destroy());
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        if (isChunk) state.chunkBytes += chunk.length;
        done(null, chunk);
      },
    });
    const steps = rate > 0 ? [req, throttle(rate), count, up] : [req, count, up];
    pipeline(steps).catch(() => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    server.closeAllConnections();
    agent.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
