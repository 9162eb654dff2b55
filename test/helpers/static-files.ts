/** Serving the files of one folder (a bundled test or bench page), nothing else. */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Answers a request with the file of `dir` it names (index.html for /), or 404. */
export function serveFile(dir: string, req: IncomingMessage, res: ServerResponse): void {
  const name = new URL(req.url ?? '/', 'http://x').pathname.slice(1) || 'index.html';
  readFile(join(dir, name)).then(
    (body) => {
      res.writeHead(200, { 'content-type': TYPES[extname(name)] ?? 'application/octet-stream' });
      res.end(body);
    },
    () => {
      res.writeHead(404);
      res.end();
    },
  );
}

/** A server of its own for the files of `dir`. */
export async function staticServer(dir: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => serveFile(dir, req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
