/** A raw TCP client, for requests fetch refuses to send (bad paths, cut bodies, slow bodies). */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  head: string;
  body: string;
}

export function parseResponse(text: string): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  return { status, head, body: end < 0 ? '' : text.slice(end + 4) };
}

export function openSocket(url: string, localAddress?: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ port: Number(port), host: hostname, localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends raw bytes, reads until the server closes or `timeoutMs` passes. */
export async function rawRequest(url: string, data: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  const s = await openSocket(url);
  const chunks: Buffer[] = [];
  s.on('data', (b: Buffer) => chunks.push(b));
  s.on('error', () => undefined);
  s.write(data);
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      s.destroy();
      resolve();
    }, timeoutMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    // A complete answer to a Connection: close request ends the socket.
  });
  return parseResponse(Buffer.concat(chunks).toString('latin1'));
}
