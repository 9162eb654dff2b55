import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { fail } from '../protocol/envelope.js';
import { type ErrorCode, TransferError } from '../protocol/errors.js';

/**
 * Requests node:http cannot parse never reach a route; it would answer them with a bare 400.
 * Answer with the envelope instead (Chinese: no headers could be read to choose a language).
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? 'HEADERS_TOO_LARGE'
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'BODY_TOO_SLOW'
        : 'MALFORMED_REQUEST';
  const te = new TransferError(code);
  const body = JSON.stringify(fail(te, 'zh'));
  socket.end(
    `HTTP/1.1 ${te.status} ${STATUS_CODES[te.status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}
