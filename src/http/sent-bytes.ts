/**
 * Bytes a response sent around node:http: sendfile (serve-bytes.ts) writes to the socket's
 * descriptor directly, which the socket's bytesWritten never sees. The request log and /metrics
 * add these to it.
 */
import type { ServerResponse } from 'node:http';

const direct = new WeakMap<ServerResponse, number>();

export function countDirectBytes(res: ServerResponse, n: number): void {
  if (n > 0) direct.set(res, (direct.get(res) ?? 0) + n);
}

export function directBytes(res: ServerResponse): number {
  return direct.get(res) ?? 0;
}
