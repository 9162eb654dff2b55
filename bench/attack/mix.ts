/**
 * The attack mix of the "under attack" case (issue 15, rows 1, 3, 4 and 9), as the bench hands it to
 * the attackers' child process, and what the attackers report back.
 */

export interface AttackMix {
  /** Base URL of the server under attack. */
  url: string;
  /**
   * The address every hostile connection leaves from: one anonymous client, told apart from the
   * legitimate one (127.0.0.1) the way a per-client limit tells clients apart.
   */
  from: string;
  /** Hard stop: the attackers end by themselves after this, whatever the bench does. */
  seconds: number;
  /** (a) New plans, each a distinct fileId with this many random chunk ids. */
  plans: { perSecond: number; chunkIds: number };
  /** (b) Partial uploads: a 2-chunk handshake declaring its size, then chunk 0 only. */
  partials: { perSecond: number; max: number; chunkBytes: number };
  /** (c) `[[[[…` sent as a text/plain handshake, by a few loops. */
  deepJson: { loops: number; bytes: number; perSecond: number };
  /** (d) Sockets that send a handshake's headers, then trickle its body. */
  slowBodies: { sockets: number; bytesPerSecond: number };
}

/** The same mix at every file size: the rates are what hurt, the legitimate transfers set the time. */
export function defaultMix(url: string, seconds: number): AttackMix {
  return {
    url,
    from: '127.0.0.2',
    seconds,
    // The issue's row 1: 100,000 ids (≈ 4 MB of JSON) per plan, here two plans a second.
    plans: { perSecond: 2, chunkIds: 100_000 },
    // Row 3: past the usual `ulimit -n` of 1024 if the attack lasts long enough.
    partials: { perSecond: 25, max: 1500, chunkBytes: 64 * 1024 },
    // Row 4: 4.8 MB of brackets, two loops, each at most one body a second.
    deepJson: { loops: 2, bytes: 4_800_000, perSecond: 1 },
    // Row 9: a few hundred sockets at 600 B/s.
    slowBodies: { sockets: 300, bytesPerSecond: 600 },
  };
}

/** How the server answered one attacker: answers by HTTP status, failures by error code. */
interface Answers {
  status: Record<string, number>;
  errors: Record<string, number>;
}

export interface Tally extends Answers {
  requests: number;
}

export interface SlowTally extends Answers {
  /** Sockets opened in all (a socket the server cuts is replaced within 100 ms). */
  opened: number;
  /** Sockets the server closed or answered before the body was complete. */
  cut: number;
  peakOpen: number;
}

export interface AttackReport {
  plans: Tally;
  partials: Tally;
  deepJson: Tally;
  slowBodies: SlowTally;
}

export function newTally(): Tally {
  return { requests: 0, status: {}, errors: {} };
}

export function bump(counts: Record<string, number>, key: string) {
  counts[key] = (counts[key] ?? 0) + 1;
}

function counts(c: Record<string, number>): string {
  return Object.entries(c)
    .map(([k, n]) => `${k}×${n}`)
    .join(', ');
}

function tallyLine(t: Tally): string {
  const parts = [counts(t.status), counts(t.errors)].filter(Boolean).join('; ');
  return `${t.requests}${parts ? ` (${parts})` : ''}`;
}

/** One line for the bench's log: what was sent and how the server answered. */
export function describe(r: AttackReport): string {
  const s = r.slowBodies;
  const answered = [counts(s.status), counts(s.errors)].filter(Boolean).join('; ');
  return [
    `plans ${tallyLine(r.plans)}`,
    `partial-upload requests ${tallyLine(r.partials)}`,
    `deep JSON ${tallyLine(r.deepJson)}`,
    `slow sockets: ${s.peakOpen} open at peak, ${s.opened} opened, ${s.cut} cut${answered ? ` (${answered})` : ''}`,
  ].join('; ');
}
