/**
 * A TCP proxy in front of an S3 endpoint that can fail the way a sick store does: accept
 * connections and never answer (hang), or answer 503 SlowDown (then relay again).
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

export interface S3FaultProxy {
  /** The endpoint to give the S3 client instead of the real one. */
  endpoint: string;
  /** From now on, swallow every request, on new connections and on open ones alike. */
  hang(): void;
  /**
   * Answer the next `n` requests 503 SlowDown, each on a connection closed after it. Call it while
   * no request is under way (a request's later packets would be taken for a new one).
   */
  slowDown(n: number): void;
  /** Relay everything again; connections left hanging are closed (their requests are lost). */
  recover(): void;
  /** 503s answered so far. */
  readonly slowDowns: number;
  close(): Promise<void>;
}

const SLOW_DOWN_BODY =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';
const SLOW_DOWN =
  'HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n' +
  `Content-Length: ${Buffer.byteLength(SLOW_DOWN_BODY)}\r\nConnection: close\r\n\r\n${SLOW_DOWN_BODY}`;

export async function startS3FaultProxy(upstream: string): Promise<S3FaultProxy> {
  const target = new URL(upstream);
  let hanging = false;
  let slowDownsLeft = 0;
  let slowDowns = 0;
  const hung = new Set<Socket>();
  const open = new Set<Socket>();

  const server = createServer((client) => {
    open.add(client);
    let relay: Socket | undefined;
    const closeBoth = () => {
      client.destroy();
      relay?.destroy();
      open.delete(client);
      hung.delete(client);
    };
    client.on('error', closeBoth);
    client.on('close', closeBoth);
    client.on('data', (data: Buffer) => {
      if (hanging) {
        hung.add(client);
        return;
      }
      // The store is idle when a test turns this on: data now is the start of a request.
      if (slowDownsLeft > 0) {
        slowDownsLeft--;
        slowDowns++;
        relay?.unpipe(client);
        relay?.removeListener('close', closeBoth);
        relay?.destroy();
        relay = undefined;
        client.end(SLOW_DOWN);
        return;
      }
      if (!relay) {
        relay = connect(Number(target.port), target.hostname);
        relay.on('error', closeBoth);
        relay.on('close', closeBoth);
        relay.pipe(client);
      }
      relay.write(data);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    hang() {
      hanging = true;
    },
    slowDown(n) {
      slowDownsLeft = n;
    },
    recover() {
      hanging = false;
      for (const s of hung) s.destroy();
    },
    get slowDowns() {
      return slowDowns;
    },
    async close() {
      for (const s of open) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
