import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { fail } from '../protocol/envelope.js';
import { type ErrorCode, TransferError } from '../protocol/errors.js';

/**
 * A whole error answer as raw HTTP/1.1 text, for sockets node:http does not answer (requests it
 * cannot parse, connections refused before it sees them). Chinese: no headers were read to choose
 * a language. Always `Connection: close`.
 */
export function rawErrorAnswer(te: TransferError): string {
  const body = JSON.stringify(fail(te, 'zh'));
  const extra = te.retryAfter === undefined ? '' : `Retry-After: ${te.retryAfter}\r\n`;
  return (
    `HTTP/1.1 ${te.status} ${STATUS_CODES[te.status] ?? 'Error'}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n${extra}Connection: close\r\n\r\n${body}`
  );
}

/**
 * Requests node:http cannot parse never reach a route; it would answer them with a bare 400.
 * Answer with the envelope instead.
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
  socket.end(rawErrorAnswer(new TransferError(code)));
}
