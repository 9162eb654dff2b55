/**
 * A TCP proxy for fault injection between a client and a server on loopback: it can throttle
 * (bytes per second, server → client), and cut connections at random after some bytes.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ProxyOptions {
  /** Throttle to this many bytes per second per connection and direction (0: none). */
  rate?: number;
  /** Probability that a connection is cut, checked every 64 KiB relayed (0..1). */
  cutChance?: number;
}

export interface FlakyProxy {
  url: string;
  options: ProxyOptions;
  cuts: number;
  close(): Promise<void>;
}

export async function startProxy(upstream: string, options: ProxyOptions = {}): Promise<FlakyProxy> {
  const { hostname, port } = new URL(upstream);
  const sockets = new Set<Socket>();
  const state: FlakyProxy = { url: '', options, cuts: 0, close: async () => undefined };
  const server: Server = createServer((client) => {
    const up = connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(up);
    let relayed = 0;
    const cut = () => {
      state.cuts++;
      client.destroy();
      up.destroy();
    };
    const maybeCut = (n: number) => {
      const before = Math.floor(relayed / 65536);
      relayed += n;
      const chance = state.options.cutChance ?? 0;
      for (let i = before; i < Math.floor(relayed / 65536); i++) {
        if (Math.random() < chance) {
          cut();
          return true;
        }
      }
      return false;
    };
    /** Relays one direction: cut at random, throttled to the rate, with backpressure. */
    const relay = (from: Socket, to: Socket) => {
      from.on('data', (b: Buffer) => {
        if (maybeCut(b.length)) return;
        if (!to.write(b)) from.pause();
        const rate = state.options.rate ?? 0;
        if (rate > 0) {
          from.pause();
          setTimeout(() => from.resume(), (b.length / rate) * 1000);
        }
      });
      to.on('drain', () => {
        if (!(state.options.rate ?? 0)) from.resume();
      });
    };
    relay(client, up);
    relay(up, client);
    const end = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('close', end);
    up.on('close', end);
    client.on('error', end);
    up.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  state.url = `http://127.0.0.1:${addr.port}`;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}
