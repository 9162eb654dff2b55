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
  /** Probability that a connection stalls (relays nothing for stallMs), checked every 64 KiB. */
  stallChance?: number;
  stallMs?: number;
  /** Probability that a new connection is slowed to slowRate bytes per second for its life. */
  slowChance?: number;
  slowRate?: number;
}

export interface FlakyProxy {
  url: string;
  options: ProxyOptions;
  cuts: number;
  stalls: number;
  slowed: number;
  connections: number;
  /** Bytes relayed from the server to clients, in all connections. */
  down: number;
  close(): Promise<void>;
}

export async function startProxy(upstream: string, options: ProxyOptions = {}): Promise<FlakyProxy> {
  const { hostname, port } = new URL(upstream);
  const sockets = new Set<Socket>();
  const state: FlakyProxy = {
    url: '',
    options,
    cuts: 0,
    stalls: 0,
    slowed: 0,
    connections: 0,
    down: 0,
    close: async () => undefined,
  };
  const server: Server = createServer((client) => {
    const up = connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(up);
    state.connections++;
    let relayed = 0;
    let stalledUntil = 0;
    const slow = Math.random() < (state.options.slowChance ?? 0);
    if (slow) state.slowed++;
    const rateOf = () => (slow ? (state.options.slowRate ?? 64 * 1024) : (state.options.rate ?? 0));
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
        if (Math.random() < (state.options.stallChance ?? 0)) {
          state.stalls++;
          stalledUntil = Date.now() + (state.options.stallMs ?? 2000);
        }
      }
      return false;
    };
    /** Relays one direction: cut at random, throttled to the rate, with backpressure. */
    const relay = (from: Socket, to: Socket) => {
      from.on('data', (b: Buffer) => {
        if (maybeCut(b.length)) return;
        if (from === up) state.down += b.length;
        if (!to.write(b)) from.pause();
        const rate = rateOf();
        const stall = Math.max(0, stalledUntil - Date.now());
        if (rate > 0 || stall > 0) {
          from.pause();
          setTimeout(() => from.resume(), stall + (rate > 0 ? (b.length / rate) * 1000 : 0));
        }
      });
      to.on('drain', () => {
        if (!rateOf() && stalledUntil <= Date.now()) from.resume();
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
