/** @tus/server with the FileStore, as a peer for the upload benchmark. argv: port, folder. */
import { createServer } from 'node:http';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';

const [port, dir] = process.argv.slice(2);
const tus = new Server({ path: '/files', datastore: new FileStore({ directory: dir! }) });
createServer((req, res) => {
  void tus.handle(req, res);
}).listen(Number(port), '127.0.0.1');
