/**
 * Serves one version of a file with complete HTTP Range semantics (PROTOCOL.md §Range rules):
 * conditionals, single ranges, multipart/byteranges, 416, HEAD. Shared by /download and /upload.
 *
 * Every response reads through the one RangeSource it was given (one open descriptor), and sends
 * exactly the Content-Length it announced: if the bytes run short the connection is cut rather
 * than ending a response early.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { RangeSource, SocketSender } from '../io/range-source.js';
import { type ByteRange, formatContentRange, parseRange, type RangeResult } from '../protocol/range.js';
import { evaluatePreconditions, ifRangeAllows } from './conditional.js';
import { directSocketFd } from './node-internals.js';
import { countDirectBytes } from './sent-bytes.js';

export interface ServeOptions {
  source: RangeSource;
  etag: string;
  contentType: string;
  contentDisposition: string;
  cacheControl: string;
  /** Security or other headers for this route. */
  headers?: Record<string, string>;
}

/** Ranges up to this size are read into memory and sent in one write (faster than a stream). */
const SMALL_READ = 256 * 1024;

/**
 * The headers every answer carries. They are collected in one object and written with one
 * writeHead: setting them one by one (setHeader) cost ~20% of the small-range rate.
 */
function commonHeaders(o: ServeOptions): Record<string, string> {
  return {
    'Accept-Ranges': 'bytes',
    ETag: o.etag,
    'Last-Modified': o.source.mtime.toUTCString(),
    'Cache-Control': o.cacheControl,
    'X-Content-Type-Options': 'nosniff',
    ...o.headers,
  };
}

/** Bytes of a range sent from the event loop's thread; the rest from the thread pool. */
const FIRST_SEND = 256 * 1024;
/** Most bytes one sendfile call on the thread pool may send (a pool thread is busy meanwhile). */
const SENDFILE_STEP = 4 * 1024 * 1024;

/**
 * Whether the connection under a response is gone (no 'drain' or 'close' will come again). A
 * pipelined response still waiting for its turn has no socket yet: that is not gone.
 */
function gone(res: ServerResponse): boolean {
  return res.destroyed || res.writableEnded || res.socket?.destroyed === true;
}

/** Waits until the response's buffered bytes drained; rejects if the connection went away. */
function drained(res: ServerResponse): Promise<void> {
  if (gone(res)) return Promise.reject(new Error('the client went away'));
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('the client went away'));
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/**
 * Sends a range with sendfile (see native/sendfile.c) where the socket allows: the kernel copies
 * from the page cache to the socket, no Buffer. The first FIRST_SEND bytes go from this thread
 * (no hop to the pool: a 64 KiB range costs open, fstat, write of the head, sendfile, close), the
 * rest from the thread pool, so a long download never holds the event loop (nor, past its first
 * 256 KiB, does a file that must come from the disk; nginx's sendfile holds its worker the same
 * way for all of it). When the socket is full, 1 MiB goes the ordinary way and is waited for
 * (Node gives no other way to learn the socket can take more), then sendfile again.
 * Tried and dropped: the head sent by the addon with MSG_MORE ahead of the bytes, one TCP push
 * (nginx's tcp_nopush): 64 KiB ranges went from ~27k to 14–19k req/s here; TCP_CORK did the same.
 */
async function sendRangeDirect(
  res: ServerResponse,
  source: RangeSource,
  send: SocketSender,
  r: ByteRange,
): Promise<number> {
  // The head must be on the socket before the first byte sendfile puts there (writeHead only
  // stores it); after the first range (or multipart's first part head) this writes nothing.
  res.flushHeaders();
  let at = r.start;
  const first = directSocketFd(res);
  if (first !== undefined) at += send.now(first, at, Math.min(FIRST_SEND, r.end + 1 - at));
  countDirectBytes(res, at - r.start);
  while (at <= r.end) {
    if (gone(res)) throw new Error('the client went away');
    const fd = directSocketFd(res);
    const step = Math.min(SENDFILE_STEP, r.end + 1 - at);
    // Nothing else writes to this socket while the pool sends: this response owns it until it
    // ends, and a pipelined response waits in Node for its turn.
    const n = fd === undefined ? 0 : await send.pooled(fd, at, step);
    countDirectBytes(res, n);
    at += n;
    if (at > r.end) break;
    if (n === step) continue;
    const buf = await source.read(at, Math.min(r.end, at + 1024 * 1024 - 1));
    if (buf.length === 0) break; // the file is shorter than it was: the caller cuts the connection
    at += buf.length;
    if (!res.write(buf)) await drained(res);
  }
  return at - r.start;
}

async function sendRange(res: ServerResponse, source: RangeSource, r: ByteRange): Promise<number> {
  const length = r.end - r.start + 1;
  if (source.sendfile) return sendRangeDirect(res, source, source.sendfile, r);
  if (length <= SMALL_READ) {
    const buf = await source.read(r.start, r.end);
    if (buf.length > 0 && !res.write(buf)) await drained(res);
    return buf.length;
  }
  let sent = 0;
  const stream = source.stream(r.start, r.end);
  stream.on('data', (b: Buffer) => {
    sent += b.length;
  });
  try {
    await pipeline(stream, res, { end: false });
  } finally {
    // A destroyed fs stream may still have a read in flight; its 'close' comes after that read.
    // Only then may the caller close the descriptor.
    if (stream.destroyed && !stream.closed) await new Promise((resolve) => stream.once('close', resolve));
  }
  return sent;
}

/** What the answer's body is: one range (or the whole file), or the parts of a multipart one. */
interface BodyPlan {
  status: number;
  parts: { range: ByteRange; head: string }[];
  tail: string;
  length: number;
}

/** Plans the body for satisfiable ranges (or none) and sets the headers that describe it. */
function planBody(
  range: Exclude<RangeResult, { kind: 'unsatisfiable' }>,
  size: number,
  contentType: string,
  h: Record<string, string>,
): BodyPlan {
  if (range.kind === 'ranges' && range.ranges.length > 1) {
    const boundary = randomBytes(12).toString('hex');
    const parts = range.ranges.map((r) => ({
      range: r,
      head: `\r\n--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: ${formatContentRange(r, size)}\r\n\r\n`,
    }));
    const tail = `\r\n--${boundary}--\r\n`;
    let length = Buffer.byteLength(tail);
    for (const p of parts) length += Buffer.byteLength(p.head) + p.range.end - p.range.start + 1;
    h['Content-Type'] = `multipart/byteranges; boundary=${boundary}`;
    return { status: 206, parts, tail, length };
  }
  const r = range.kind === 'ranges' ? range.ranges[0]! : { start: 0, end: size - 1 };
  h['Content-Type'] = contentType;
  if (range.kind === 'ranges') h['Content-Range'] = formatContentRange(r, size);
  return {
    status: range.kind === 'ranges' ? 206 : 200,
    parts: size > 0 ? [{ range: r, head: '' }] : [],
    tail: '',
    length: size > 0 ? r.end - r.start + 1 : 0,
  };
}

/** Sends a planned body after its head; ends the response only if every announced byte went. */
async function sendBody(res: ServerResponse, source: RangeSource, plan: BodyPlan): Promise<void> {
  let sent = 0;
  try {
    for (const p of plan.parts) {
      if (p.head) {
        res.write(p.head);
        sent += Buffer.byteLength(p.head);
      }
      sent += await sendRange(res, source, p.range);
    }
    if (plan.tail) {
      res.write(plan.tail);
      sent += Buffer.byteLength(plan.tail);
    }
  } catch {
    // The client went away or the read failed: nothing more can be said on this connection.
    res.destroy();
    return;
  }
  if (sent !== plan.length) {
    // The bytes ran short (file truncated in place): never end a response early.
    res.destroy();
    return;
  }
  res.end();
}

export async function serveBytes(req: IncomingMessage, res: ServerResponse, o: ServeOptions): Promise<void> {
  const { source } = o;
  const method = req.method ?? 'GET';
  const h = commonHeaders(o);
  const pre = evaluatePreconditions(req.headers, method, o.etag, source.mtime);
  if (pre === 'not-modified') {
    res.writeHead(304, h).end();
    return;
  }
  if (pre === 'failed') {
    res.writeHead(412, { ...h, 'Content-Length': '0' }).end();
    return;
  }

  const size = source.size;
  const rangeHeader =
    method === 'GET' && ifRangeAllows(req.headers, o.etag, source.mtime) ? req.headers.range : undefined;
  const range = parseRange(rangeHeader, size);

  if (range.kind === 'unsatisfiable') {
    res.writeHead(416, { ...h, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' }).end();
    return;
  }

  h['Content-Disposition'] = o.contentDisposition;
  const plan = planBody(range, size, o.contentType, h);
  h['Content-Length'] = String(plan.length);
  res.writeHead(plan.status, h);
  if (method === 'HEAD') {
    res.end();
    return;
  }
  await sendBody(res, source, plan);
}
