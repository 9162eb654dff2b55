/**
 * The public port as several listening sockets (SO_REUSEPORT, http/listeners.ts): libuv accepts
 * one connection per listening socket per turn of the loop, so a flood of new connections queued
 * a legitimate client's behind hundreds. Real server on port 0; the sockets are counted in /proc/net/tcp.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, it } from 'node:test';
import { LISTENERS } from '../src/http/listeners.js';
import { loadAddon } from '../src/io/native-addon.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const built = loadAddon('rt_listen.node', ['listenReusePort']) !== undefined;
let server: TestServer;

/** Listening TCP sockets on the port, from /proc/net/tcp{,6} (state 0A: LISTEN). */
function listeningSockets(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (local?.endsWith(`:${hex}`) && state === '0A') n++;
    }
  }
  return n;
}

/** One request on a new connection (no keep-alive): its status. */
function fresh(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/health`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  server = await startTestServer();
});

after(() => server.close());

it('the port is LISTENERS sockets, each of them serving (the addon is built by npm install)', {
  skip: built ? false : 'native/listen.c not built (no C compiler): the port is one socket',
}, async () => {
  const port = Number(new URL(server.url).port);
  assert.equal(listeningSockets(port), LISTENERS);
  // The kernel spreads connections over the sockets by their source port: 200 land on all.
  const statuses = await Promise.all(Array.from({ length: 200 }, () => fresh(server.url)));
  assert.deepEqual(new Set(statuses), new Set([200]));
});

it('a graceful stop closes every one of them', async () => {
  const other = await startTestServer();
  const port = Number(new URL(other.url).port);
  assert.ok(listeningSockets(port) >= 1);
  await other.close();
  assert.equal(listeningSockets(port), 0);
});

it('a second server on the same port fails as before (EADDRINUSE), taking none of its connections', async () => {
  const port = Number(new URL(server.url).port);
  await assert.rejects(startTestServer({ port }), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
  assert.equal(await fresh(server.url), 200);
});
