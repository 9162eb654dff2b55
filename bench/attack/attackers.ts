/**
 * The hostile clients of the "under attack" case, in a child process of the bench so that their
 * CPU is not taken from the bench's latency probes:
 *   node --import tsx bench/attack/attackers.ts '<AttackMix as JSON>'
 * Every attacker is bounded in rate, in requests or sockets in flight, and in time. All stop at the
 * mix's deadline, on SIGTERM, or when stdin closes (the bench is gone), then print their tallies
 * (an AttackReport) as one JSON line on stdout. Whatever the server does — refuse, cut, crash — is
 * counted, never fatal.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AttackMix, type AttackReport, bump, newTally, type SlowTally, type Tally } from './mix.js';

const mix = JSON.parse(process.argv[2] ?? '') as AttackMix;
const target = new URL(mix.url);
const port = Number(target.port);
let stopped = false;
const timers: NodeJS.Timeout[] = [];
const inFlight = new Set<Promise<void>>();

const randomHex = () => randomBytes(16).toString('hex');

function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.name ?? 'Error';
}

/**
 * One request from the hostile address; settles when the answer has been read (or the request
 * failed), with the status or 0. Never rejects.
 */
function send(
  agent: Agent,
  tally: Tally,
  method: string,
  path: string,
  type: string,
  body: Buffer | string,
): Promise<number> {
  tally.requests++;
  return new Promise((resolve) => {
    let answered = false;
    const req = request(
      {
        host: target.hostname,
        port,
        method,
        path,
        agent,
        localAddress: mix.from,
        headers: { 'content-type': type, 'content-length': Buffer.byteLength(body) },
        timeout: 60_000,
      },
      (res) => {
        answered = true;
        bump(tally.status, String(res.statusCode));
        res.resume();
        res.on('close', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err) => {
      // An early answer (a 413 before the body is read) may end in EPIPE: the answer counts.
      if (!answered) bump(tally.errors, errorCode(err));
      resolve(0);
    });
    req.end(body);
  });
}

/** Calls `fn` `perSecond` times a second while fewer than `maxInFlight` of its calls run. */
function paced(perSecond: number, maxInFlight: number, fn: () => Promise<unknown>) {
  let running = 0;
  timers.push(
    setInterval(() => {
      if (stopped || running >= maxInFlight) return;
      running++;
      const p = fn().then(
        () => undefined,
        () => undefined,
      );
      inFlight.add(p);
      void p.finally(() => {
        running--;
        inFlight.delete(p);
      });
    }, 1000 / perSecond),
  );
}

const agent = () => new Agent({ keepAlive: true, maxSockets: 8 });

/** (a) Plans: a distinct fileId and `chunkIds` random ids each, kept by the server until expiry. */
function plans(tally: Tally) {
  const { perSecond, chunkIds } = mix.plans;
  const a = agent();
  paced(perSecond, 4, () => {
    const hex = randomBytes(16 * chunkIds).toString('hex');
    const ids = Array.from({ length: chunkIds }, (_, i) => `"${hex.slice(32 * i, 32 * i + 32)}${i}"`);
    const body = `{"fileId":"${randomHex()}","ext":".bin","chunkIds":[${ids.join(',')}]}`;
    return send(a, tally, 'POST', '/api/upload/handshake', 'application/json', body);
  });
}

/** (b) Partial uploads: a 2-chunk plan with its declared size, chunk 0 sent, then abandoned. */
function partials(tally: Tally) {
  const { perSecond, max, chunkBytes } = mix.partials;
  const a = agent();
  let started = 0;
  paced(perSecond, 8, async () => {
    if (started >= max) return;
    started++;
    const fileId = randomHex();
    const chunk = randomBytes(chunkBytes);
    const first = `${createHash('md5').update(chunk).digest('hex')}0`;
    const plan = {
      fileId,
      ext: '.bin',
      chunkIds: [first, `${randomHex()}1`],
      size: 2 * chunkBytes,
      chunkSize: chunkBytes,
    };
    const status = await send(
      a,
      tally,
      'POST',
      '/api/upload/handshake',
      'application/json',
      JSON.stringify(plan),
    );
    if (status !== 200) return;
    await send(
      a,
      tally,
      'POST',
      `/api/upload?fileId=${fileId}&chunkId=${first}`,
      'application/octet-stream',
      chunk,
    );
  });
}

/** (c) Deep nesting: MBs of `[` as text/plain, which no browser preflights. */
function deepJson(tally: Tally) {
  const { loops, bytes, perSecond } = mix.deepJson;
  const body = Buffer.alloc(bytes, '[');
  for (let i = 0; i < loops; i++) {
    const a = agent();
    paced(perSecond, 1, () => send(a, tally, 'POST', '/api/upload/handshake', 'text/plain', body));
  }
}

/**
 * (d) Slow bodies: each socket sends a handshake's headers, then drips its body at `bytesPerSecond`
 * in chunked encoding (no declared length a server could refuse up front). A socket the server cuts
 * is replaced; at most `sockets` are open at once.
 */
function slowBodies(tally: SlowTally) {
  const { sockets, bytesPerSecond } = mix.slowBodies;
  const open = new Set<Socket>();
  const head =
    `POST /api/upload/handshake HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\n` +
    `Transfer-Encoding: chunked\r\n\r\n`;
  const piece = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
  const start = piece('{"ext":".bin","chunkIds":[');
  const drip = piece(' '.repeat(Math.max(1, Math.round(bytesPerSecond / 2))));
  const openOne = () => {
    tally.opened++;
    const s = connect({ host: target.hostname, port, localAddress: mix.from });
    open.add(s);
    tally.peakOpen = Math.max(tally.peakOpen, open.size);
    let answered = false;
    s.on('connect', () => s.write(head + start));
    s.on('data', (d: Buffer) => {
      if (answered) return;
      answered = true;
      bump(tally.status, /^HTTP\/1\.[01] (\d{3})/.exec(d.toString('latin1'))?.[1] ?? 'garbled');
    });
    s.on('error', (err) => {
      if (!stopped) bump(tally.errors, errorCode(err));
    });
    s.on('close', () => {
      open.delete(s);
      if (!stopped) tally.cut++;
    });
  };
  // Up to 30 new sockets every 100 ms until the cap: a cut socket is back a moment later.
  timers.push(
    setInterval(() => {
      for (let i = 0; i < 30 && !stopped && open.size < sockets; i++) openOne();
    }, 100),
  );
  // Twice a second, half a second's worth of body on every open socket.
  timers.push(
    setInterval(() => {
      for (const s of open) if (s.writable && !s.connecting) s.write(drip);
    }, 500),
  );
  return () => {
    for (const s of open) s.destroy();
  };
}

const report: AttackReport = {
  plans: newTally(),
  partials: newTally(),
  deepJson: newTally(),
  slowBodies: { opened: 0, cut: 0, peakOpen: 0, status: {}, errors: {} },
};
plans(report.plans);
partials(report.partials);
deepJson(report.deepJson);
const closeSlow = slowBodies(report.slowBodies);

async function stop() {
  if (stopped) return;
  stopped = true;
  for (const t of timers) clearInterval(t);
  closeSlow();
  // Requests already sent may finish (their answers count), for a moment only.
  await Promise.race([Promise.all(inFlight), sleep(2000)]);
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
}

const deadline = setTimeout(() => void stop(), mix.seconds * 1000);
deadline.unref();
process.on('SIGTERM', () => void stop());
process.stdin.on('close', () => void stop());
process.stdin.resume();
