/**
 * The course's own client, from Node (argv: server base URL, file path): what its page does, as
 * test/course-client.test.ts describes it: 1 MiB chunks, ids = MD5 + index, a JSON handshake, a
 * multipart form with `file` first, one chunk at a time, `data` read as what is still needed.
 * Hashing reads the file once (the whole-file MD5 and each chunk's); chunks are read again as sent.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { extname } from 'node:path';

const CHUNK = 1024 * 1024;
const [base, path] = process.argv.slice(2) as [string, string];

const whole = createHash('md5');
const ids: string[] = [];
let part = createHash('md5');
let inPart = 0;
for await (const piece of createReadStream(path, { highWaterMark: CHUNK })) {
  const buf = piece as Buffer;
  whole.update(buf);
  let at = 0;
  while (at < buf.length) {
    const take = Math.min(CHUNK - inPart, buf.length - at);
    part.update(buf.subarray(at, at + take));
    inPart += take;
    at += take;
    if (inPart === CHUNK) {
      ids.push(part.digest('hex') + ids.length);
      part = createHash('md5');
      inPart = 0;
    }
  }
}
if (inPart > 0 || ids.length === 0) ids.push(part.digest('hex') + ids.length);
const fileId = whole.digest('hex');

interface Answer {
  code: number;
  msg: string;
  data: string | string[];
}

async function answered(res: Response): Promise<Answer> {
  const a = (await res.json()) as Answer;
  if (a.code !== 0) throw new Error(`${res.status} ${a.msg}`);
  return a;
}

let answer = await answered(
  await fetch(`${base}/api/upload/handshake`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ fileId, ext: extname(path) || '.bin', chunkIds: ids }),
  }),
);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/**
 * One chunk as the page's FormData sends it (`file` first, then chunkId and fileId), written with
 * node:http: undici's FormData encoding took more CPU than the whole server (1.2 s per 64 MiB),
 * where a browser's is native.
 */
function sendChunk(bytes: Buffer, id: string): Promise<Answer> {
  const boundary = `----course${id}`;
  const field = (name: string, value: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="blob"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n${field('chunkId', id)}${field('fileId', fileId)}--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/api/upload`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': head.length + bytes.length + tail.length,
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const a = JSON.parse(Buffer.concat(parts).toString('utf8')) as Answer;
          if (a.code !== 0) reject(new Error(`${res.statusCode} ${a.msg}`));
          else resolve(a);
        });
      },
    );
    req.on('error', reject);
    req.write(head);
    req.write(bytes);
    req.end(tail);
  });
}

const fh = await open(path, 'r');
try {
  while (Array.isArray(answer.data) && answer.data.length > 0) {
    const id = answer.data[0]!;
    const index = ids.indexOf(id);
    if (index < 0) throw new Error(`the server asked for ${id}, never announced`);
    const bytes = Buffer.allocUnsafe(CHUNK);
    const { bytesRead } = await fh.read(bytes, 0, CHUNK, index * CHUNK);
    answer = await sendChunk(bytes.subarray(0, bytesRead), id);
  }
} finally {
  await fh.close();
  agent.destroy();
}
