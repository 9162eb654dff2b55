/**
 * @tus/server with the FileStore, as a peer for the upload benchmark. argv: port, folder[, web
 * folder]. With a web folder, what is not under /files is served from it: a page there reaches
 * tus from its own origin, as our page reaches our server (no CORS preflights).
 */
import { createServer } from 'node:http';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';
import { serveFile } from '../test/helpers/static-files.js';

const [port, dir, web] = process.argv.slice(2);
const tus = new Server({ path: '/files', datastore: new FileStore({ directory: dir! }) });
createServer((req, res) => {
  if (web && !req.url?.startsWith('/files')) serveFile(web, req, res);
  else void tus.handle(req, res);
}).listen(Number(port), '127.0.0.1');
