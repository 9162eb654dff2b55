/**
 * The least a Node process can do to pass an object through: one http.get of a URL piped to each
 * answer (argv: port, URL). The S3 section prints its download speed beside ours, so that what the
 * hop through any Node process costs on this machine is told apart from what our server adds.
 */
import { Agent, createServer, get } from 'node:http';

const [port, target] = process.argv.slice(2) as [string, string];
const agent = new Agent({ keepAlive: true });
createServer((req, res) => {
  // The readiness probe's HEAD: no GET of the object for it.
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  get(target, { agent }, (up) => {
    res.writeHead(up.statusCode ?? 502, { 'content-length': up.headers['content-length'] ?? 0 });
    up.pipe(res);
  });
}).listen(Number(port), '127.0.0.1');
