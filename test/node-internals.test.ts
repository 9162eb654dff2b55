/**
 * The Node internals src/http/node-internals.ts relies on, checked against the running Node on a
 * real server. A failure here names the internal that changed: after a Node upgrade, adapt
 * node-internals.ts before anything else (its uses fall back quietly, so only this test says so).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import {
  directSocketFd,
  halfCloseAfterLastResponse,
  writeInformational,
} from '../src/http/node-internals.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server;
let port = 0;
const handlers = new Map<string, Handler>();

before(async () => {
  server = createServer((req, res) => {
    const handler = handlers.get(req.url ?? '');
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function changed(internal: string, what: string): string {
  return `Node internal ${internal} changed in Node ${process.version}: ${what}. Adapt src/http/node-internals.ts.`;
}

/** Sends raw request text on one connection; resolves with everything the server sent back. */
async function exchange(text: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('latin1');
  let received = '';
  socket.on('data', (s: string) => {
    received += s;
  });
  socket.write(text);
  await once(socket, 'end');
  socket.destroy();
  return received;
}

/** Assertion failures inside handlers, thrown again by the test that caused them. */
const failures: unknown[] = [];

/** Runs `inspect` inside a handler for one request; the handler ends the response itself. */
function inspecting(path: string, inspect: Handler): void {
  handlers.set(path, (req, res) => {
    try {
      inspect(req, res);
    } catch (err: unknown) {
      failures.push(err);
      if (!res.headersSent) res.writeHead(500, { 'Content-Length': '0', Connection: 'close' }).end();
      else res.destroy();
    }
  });
}
function rethrow(): void {
  const first = failures.shift();
  failures.length = 0;
  if (first !== undefined) throw first;
}

test('socket._handle: a TCP handle with a descriptor and libuv write queue size', async () => {
  inspecting('/handle', (_req, res) => {
    const handle = (res.socket as unknown as { _handle?: { fd?: unknown; writeQueueSize?: unknown } })
      ._handle;
    assert.ok(handle, changed('socket._handle', 'a server socket has no _handle'));
    assert.ok(
      typeof handle.fd === 'number' && handle.fd >= 0,
      changed('socket._handle.fd', `expected the socket's descriptor, got ${String(handle.fd)}`),
    );
    assert.equal(
      typeof handle.writeQueueSize,
      'number',
      changed('socket._handle.writeQueueSize', `expected a number, got ${typeof handle.writeQueueSize}`),
    );
    res.writeHead(204, { Connection: 'close' }).end();
  });
  await exchange('GET /handle HTTP/1.1\r\nHost: x\r\n\r\n');
  rethrow();
});

test('socket._httpMessage is the response that owns the socket', async () => {
  inspecting('/owner', (_req, res) => {
    const owner = (res.socket as unknown as { _httpMessage?: unknown })._httpMessage;
    assert.ok(owner === res, changed('socket._httpMessage', 'it is not the response being written'));
    res.writeHead(204, { Connection: 'close' }).end();
  });
  await exchange('GET /owner HTTP/1.1\r\nHost: x\r\n\r\n');
  rethrow();
});

test('directSocketFd: bytes written to the descriptor follow the flushed head', async () => {
  inspecting('/direct', (_req, res) => {
    res.writeHead(200, { 'Content-Length': '5', Connection: 'close' });
    res.flushHeaders();
    const fd = directSocketFd(res);
    assert.ok(
      fd !== undefined,
      changed(
        'socket._handle / socket._httpMessage / res.outputData',
        'directSocketFd finds no descriptor for an idle socket (sendfile would never run)',
      ),
    );
    writeSync(fd, 'hello');
    res.end();
  });
  const answer = await exchange('GET /direct HTTP/1.1\r\nHost: x\r\n\r\n');
  rethrow();
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(
    answer.endsWith('\r\n\r\nhello'),
    `the bytes written to the descriptor came out of order: ${answer}`,
  );
});

test('res.outputData holds a pipelined response until its turn, and directSocketFd gives it none', async () => {
  let secondRan!: () => void;
  const second = new Promise<void>((resolve) => {
    secondRan = resolve;
  });
  handlers.set('/first', (_req, res) => {
    void second.then(() => res.writeHead(200, { 'Content-Length': '1' }).end('1'));
  });
  inspecting('/second', (_req, res) => {
    try {
      assert.equal(
        directSocketFd(res),
        undefined,
        'a pipelined response waiting for its turn got the descriptor',
      );
      res.writeHead(200, { 'Content-Length': '1', Connection: 'close' });
      res.write('2');
      const queued = (res as unknown as { outputData?: unknown }).outputData;
      assert.ok(
        Array.isArray(queued) && queued.length > 0,
        changed('res.outputData', 'writes of a response waiting for the socket are no longer queued there'),
      );
      res.end();
    } finally {
      secondRan();
    }
  });
  const answer = await exchange(
    'GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n',
  );
  rethrow();
  assert.match(answer, /\r\n\r\n1HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n2$/);
});

test('socket.destroySoon: node:http calls it after the last response; replaced, it half-closes', async () => {
  assert.equal(
    typeof (Socket.prototype as { destroySoon?: unknown }).destroySoon,
    'function',
    changed('net.Socket.prototype.destroySoon', 'it is gone'),
  );
  let called = false;
  let socketAfter: { destroyed: boolean; writableEnded: boolean } | undefined;
  handlers.set('/linger', (req, res) => {
    const socket = req.socket;
    halfCloseAfterLastResponse(socket);
    const replaced = socket.destroySoon;
    socket.destroySoon = () => {
      called = true;
      replaced.call(socket);
      socketAfter = { destroyed: socket.destroyed, writableEnded: socket.writableEnded };
      socket.destroy();
    };
    res.writeHead(200, { 'Content-Length': '2', Connection: 'close' }).end('ok');
  });
  const answer = await exchange('GET /linger HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(answer, /\r\n\r\nok$/);
  assert.ok(called, changed('socket.destroySoon', 'node:http no longer calls it after the last response'));
  assert.deepEqual(
    socketAfter,
    { destroyed: false, writableEnded: true },
    'the replaced destroySoon did not half-close',
  );
});

test('res._writeRaw: an informational response (104) goes out before the final one, in order', async () => {
  handlers.set('/informational', (_req, res) => {
    const sent = writeInformational(res, 104, 'Upload Resumption Supported', { Location: '/files/x' });
    if (!sent) failures.push(new Error(changed('res._writeRaw', 'it is gone')));
    res.writeHead(201, { 'Content-Length': '0', Connection: 'close' }).end();
  });
  const answer = await exchange('POST /informational HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
  rethrow();
  assert.match(
    answer,
    /^HTTP\/1\.1 104 Upload Resumption Supported\r\nLocation: \/files\/x\r\n\r\nHTTP\/1\.1 201 /,
    changed('res._writeRaw', 'the 104 was not written first'),
  );
});
