/**
 * What the range server (src/http/serve-bytes.ts) reads from: one version of a file's bytes, held
 * for a whole response. Storage backends return one from openFile; io/fd-source.ts is the one
 * over a local file descriptor.
 */
import type { Readable } from 'node:stream';

export interface RangeSource {
  readonly size: number;
  readonly mtime: Date;
  /** A new stream over bytes start..end inclusive. */
  stream(start: number, end: number): Readable;
  /** Reads a small range into memory (used for small ranges, where a stream costs more). */
  read(start: number, end: number): Promise<Buffer>;
  /** Optional: kernel sendfile straight to a socket descriptor, never blocking on the socket. */
  sendfile?: SocketSender;
  close(): Promise<void>;
}

export interface SocketSender {
  /**
   * On the calling thread: up to `count` bytes from `position`; returns the bytes sent (0: the
   * socket is full, or the file ended). Throws on a socket error (the peer left).
   */
  now(socketFd: number, position: number, count: number): number;
  /** On the thread pool: resolves to the bytes sent (0: the socket is full, or the file ended). */
  pooled(socketFd: number, position: number, count: number): Promise<number>;
}
