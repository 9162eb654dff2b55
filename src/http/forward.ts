/**
 * Forwards a request to the process that owns uploads (`serve --workers N`, see workers.ts), over
 * its local socket, and streams the answer back, informational answers (1xx) included. The body
 * streams both ways (no buffering); a client that leaves ends the forwarded request, and an owner
 * that cannot be reached is a 503 the clients retry.
 *
 * Hand-written rather than http-proxy & co.: it is one hop to a socket we own, with our error
 * envelope and our lingering close, in ~60 lines of node:http.
 */
import {
  Agent,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type ServerResponse,
} from 'node:http';
import { pipeline } from 'node:stream/promises';
import { TransferError } from '../protocol/errors.js';
import { clientAddress, INTERNAL_CLIENT_HEADER } from './client-address.js';
import { lingerOnUnreadBody } from './linger.js';
import { writeInformational } from './node-internals.js';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the request. And
 * `expect`: this process already answered 100-continue to the client.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'expect',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: IncomingMessage['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/** An informational answer's end-to-end headers, names as the owner wrote them. */
function informationalHeaders(raw: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    out[name] = name in out ? `${out[name]}, ${value}` : value;
  }
  return out;
}

export type Forward = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export function forwarder(socketPath: string): Forward {
  const agent = new Agent({ keepAlive: true });
  return (req, res) =>
    new Promise<void>((resolve, reject) => {
      let answered = false;
      const upstream = request({
        socketPath,
        agent,
        method: req.method,
        path: req.url,
        // The owner keys its per-client limits on this (client-address.ts); the pipeline deleted
        // any such header the client sent.
        headers: { ...endToEnd(req.headers), [INTERNAL_CLIENT_HEADER]: clientAddress(req) },
        setHost: false,
      });
      // The owner's informational answers before the final one (an IETF creation's 104 Upload
      // Resumption Supported, with the upload's URL) reach the client as they come. Not 100
      // Continue: this process answered the client's Expect itself.
      upstream.on('information', (info) => {
        if (info.statusCode === 100 || info.statusCode === 101 || answered) return;
        writeInformational(res, info.statusCode, info.statusMessage, informationalHeaders(info.rawHeaders));
      });
      upstream.on('response', (answer) => {
        answered = true;
        const headers = endToEnd(answer.headers);
        // The owner ends the connection after an answer given before the body was read: so do we.
        if (answer.headers.connection === 'close') headers.connection = 'close';
        res.writeHead(answer.statusCode ?? 502, headers);
        pipeline(answer, res).then(
          () => {
            // The owner answered before reading the whole body (413, 404...): read and drop the
            // rest here too, so the client sees the answer and not a reset.
            if (!req.complete) {
              upstream.destroy();
              lingerOnUnreadBody(req, res);
            }
            resolve();
          },
          () => {
            upstream.destroy();
            res.destroy();
            resolve();
          },
        );
      });
      upstream.on('error', (err) => {
        if (answered) return; // the answer's own pipeline reports what matters
        // Nothing was answered yet: the owner is down or restarting.
        reject(new TransferError('UPLOADS_UNAVAILABLE', undefined, { cause: err }));
      });
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      req.pipe(upstream);
    });
}
