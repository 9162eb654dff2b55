/**
 * For the tus and IETF suites: the backends they run on (local disk always, S3 when an endpoint
 * can be had), and a small HTTP client that says status, headers and body.
 */

import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { ServerConfig } from '../../src/server/index.js';
import { emptyPrefix, s3Endpoint, s3Storage } from './s3.js';
import { startTestServer, type TestServer } from './server.js';

export interface Backend {
  name: string;
  /** Set when the backend cannot run here (the reason). */
  skip: string | false;
  start(overrides?: Partial<ServerConfig>): Promise<TestServer>;
}

export function backends(): Backend[] {
  const ep = s3Endpoint();
  return [
    { name: 'local disk', skip: false, start: (o = {}) => startTestServer({ logLevel: 'error', ...o }) },
    {
      name: 'S3 (Ceph RGW)',
      skip: typeof ep === 'string' ? ep : false,
      async start(o = {}) {
        if (typeof ep === 'string') throw new Error(ep);
        const prefix = `tus-${randomBytes(6).toString('hex')}/`;
        const server = await startTestServer({
          logLevel: 'error',
          ...o,
          storage: { kind: 's3', ...ep, prefix, forcePathStyle: true },
        });
        return {
          ...server,
          async close() {
            await server.close();
            const cleaner = s3Storage(ep, prefix);
            await emptyPrefix(cleaner);
            await cleaner.close();
          },
        };
      },
    },
  ];
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** One request; fetch for everything it can send. */
export async function send(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<Answer> {
  const res = await fetch(url, {
    method,
    headers,
    body: body as Uint8Array<ArrayBuffer> | string | undefined,
  });
  return { status: res.status, headers: res.headers, text: method === 'HEAD' ? '' : await res.text() };
}

export const TUS = { 'Tus-Resumable': '1.0.0' };
export const OCTETS = { ...TUS, 'Content-Type': 'application/offset+octet-stream' };

/** tus Upload-Metadata from pairs. */
export function metadata(pairs: Record<string, string>): string {
  return Object.entries(pairs)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');
}

/** Creates a tus upload and resolves with its URL. */
export async function createTus(
  base: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<string> {
  const a = await send(`${base}/files/`, 'POST', { ...(body ? OCTETS : TUS), ...headers }, body);
  if (a.status !== 201) throw new Error(`creation answered ${a.status}: ${a.text}`);
  return a.headers.get('location')!;
}

export interface RawExchange {
  informational: { status: number; headers: Record<string, string | string[] | undefined> }[];
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A request through node:http, which reports 1xx informational responses (fetch hides them). */
export function exchange(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const informational: RawExchange['informational'] = [];
    const req = request(url, { method, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () =>
        resolve({
          informational,
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(parts).toString('utf8'),
        }),
      );
    });
    req.on('information', (info) => informational.push({ status: info.statusCode, headers: info.headers }));
    req.on('error', reject);
    req.end(body);
  });
}
