/**
 * How transfers are shown on stderr (results go to stdout, one line or JSON object each):
 * - bars: on a terminal, one cli-progress bar per running transfer and a total bar when there
 *   are several; a finished transfer leaves one line with its size and average speed;
 * - lines: stderr is not a TTY: one line per event (progress every two seconds, a phase change,
 *   a retry, the end of a transfer), and a total line at the end when there are several;
 * - json (`--json`): the same events as JSON lines on stderr;
 * - quiet (`-q`): nothing but errors.
 * Every message (a retry, an error) is a line of its own, never glued to a bar.
 */

import { createRequire } from 'node:module';
import bytes from 'bytes';
import type cliProgressModule from 'cli-progress';
import type { Progress, RetryEvent } from '../client/core/types.js';
import { TransferError } from '../protocol/errors.js';

export type Mode = 'bars' | 'lines' | 'json' | 'quiet';

/** The end of one transfer, as the reporter shows it. */
export type Outcome = { ok: true; note?: string } | { ok: false; line: string; error: unknown };

export interface Tracker {
  progress(p: Progress): void;
  retry(e: RetryEvent): void;
  end(outcome: Outcome): void;
}

export interface Reporter {
  /** A transfer starts (`label`: a short name; `item`: the file or URL as given). */
  start(label: string, item: string): Tracker;
  /** A line of its own on stderr. */
  log(line: string): void;
  stop(): void;
}

export function fmtBytes(n: number): string {
  return bytes.format(n, { decimalPlaces: 1, unitSeparator: ' ' }) ?? `${n} B`;
}

function fmtEta(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '--';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function fmtSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

const PHASE: Record<Progress['phase'] | 'starting', string> = {
  starting: 'starting ',
  hashing: 'hashing  ',
  uploading: 'uploading',
  downloading: 'download ',
  done: 'done     ',
};

/** `retrying in 1.2 s (attempt 1/8): <why>` */
export function retryText(e: RetryEvent): string {
  return `retrying in ${fmtSeconds(e.delay)} (attempt ${e.attempt}/${e.retries}): ${e.error.message}`;
}

/**
 * What one transfer did: bytes moved in this run over the time it took (a resumed transfer counts
 * only what it fetched or sent now). The core's final event gives the average when it knows it.
 */
class Stats {
  readonly started = Date.now();
  private base: number | undefined;
  private since = Date.now();
  total = 0;
  done = 0;
  final: Progress | undefined;

  see(p: Progress): void {
    this.total = p.bytesTotal;
    this.done = p.bytesDone;
    if (p.phase === 'done') this.final = p;
    else if ((p.phase === 'uploading' || p.phase === 'downloading') && this.base === undefined) {
      this.base = p.bytesDone;
      this.since = Date.now();
    }
  }

  averageSpeed(): number {
    if (this.final && this.final.speed > 0) return this.final.speed;
    const seconds = (Date.now() - this.since) / 1000;
    return seconds > 0 ? Math.max(0, (this.done - (this.base ?? 0)) / seconds) : 0;
  }

  /** `done, 200 MB in 4.2 s (47.6 MB/s)`, or what made it quick. */
  summary(note?: string): string {
    const took = fmtSeconds(Date.now() - this.started);
    const how = this.final?.alreadyComplete
      ? 'already complete: nothing fetched'
      : this.final?.instant
        ? 'instant upload: the server already had it'
        : `${took}, average ${fmtBytes(this.averageSpeed())}/s`;
    const restarted = this.final?.restarted ? '; restarted: the file changed on the server' : '';
    return `done, ${fmtBytes(this.total)} (${how}${restarted})${note ? ` ${note}` : ''}`;
  }
}

function errorFields(err: unknown): { code?: string; status?: number; message: string } {
  if (err instanceof TransferError) return { code: err.code, status: err.status, message: err.message };
  return { message: err instanceof Error ? err.message : String(err) };
}

/** The total over all transfers (shown when there are several). */
class Totals {
  readonly started = Date.now();
  finished = 0;
  failed = 0;
  private readonly live = new Set<Stats>();
  private doneBytes = 0;
  private doneTotal = 0;

  constructor(readonly count: number) {}

  add(s: Stats): void {
    this.live.add(s);
  }

  end(s: Stats, ok: boolean): void {
    this.live.delete(s);
    this.doneBytes += s.done;
    this.doneTotal += s.total;
    if (ok) this.finished++;
    else this.failed++;
  }

  bytes(): { done: number; total: number } {
    let done = this.doneBytes;
    let total = this.doneTotal;
    for (const s of this.live) {
      done += s.done;
      total += s.total;
    }
    return { done, total };
  }

  line(): string {
    const { done } = this.bytes();
    const ms = Date.now() - this.started;
    const failed = this.failed > 0 ? `, ${this.failed} failed` : '';
    return `total: ${this.finished}/${this.count} files done${failed}, ${fmtBytes(done)} in ${fmtSeconds(ms)}`;
  }
}

/** `count`: how many transfers (a total is shown for several); `out`: stderr, or a test's stream. */
export function createReporter(
  mode: Mode,
  count: number,
  out: NodeJS.WriteStream = process.stderr,
): Reporter {
  if (mode === 'bars') return barsReporter(count, out);
  if (mode === 'json') return jsonReporter(count, out);
  return linesReporter(mode, count, out);
}

/** True at most every `ms` within one phase, and at once when the phase changes. */
function phaseThrottle(ms: number): (phase: string) => boolean {
  let last = 0;
  let lastPhase = '';
  return (phase) => {
    const now = Date.now();
    if (phase === lastPhase && now - last < ms) return false;
    last = now;
    lastPhase = phase;
    return true;
  };
}

function linesReporter(mode: 'lines' | 'quiet', count: number, out: NodeJS.WriteStream): Reporter {
  const totals = new Totals(count);
  const write = (line: string) => out.write(`${line}\n`);
  return {
    start(label) {
      const stats = new Stats();
      totals.add(stats);
      const due = phaseThrottle(2000);
      return {
        progress(p) {
          stats.see(p);
          if (mode === 'quiet' || p.phase === 'done' || !due(p.phase)) return;
          const pct = p.bytesTotal > 0 ? Math.floor((p.bytesDone / p.bytesTotal) * 100) : 100;
          const extra = p.restarted ? ' (restarted: the file changed on the server)' : '';
          write(
            `${label} ${PHASE[p.phase].trim()} ${pct}% ${fmtBytes(p.bytesDone)}/${fmtBytes(p.bytesTotal)} ${fmtBytes(p.speed)}/s eta ${fmtEta(p.eta)}${extra}`,
          );
        },
        retry(e) {
          if (mode !== 'quiet') write(`${label}: ${retryText(e)}`);
        },
        end(outcome) {
          totals.end(stats, outcome.ok);
          if (!outcome.ok) {
            if (outcome.line) write(outcome.line);
          } else if (mode !== 'quiet') write(`${label} ${stats.summary(outcome.note)}`);
        },
      };
    },
    log: write,
    stop() {
      if (mode !== 'quiet' && count > 1) write(totals.line());
    },
  };
}

function jsonReporter(count: number, out: NodeJS.WriteStream): Reporter {
  const totals = new Totals(count);
  const emit = (event: Record<string, unknown>) => out.write(`${JSON.stringify(event)}\n`);
  return {
    start(_label, item) {
      const stats = new Stats();
      totals.add(stats);
      const due = phaseThrottle(1000);
      return {
        progress(p) {
          stats.see(p);
          if (p.phase === 'done' || !due(p.phase)) return;
          emit({ event: 'progress', item, ...p, speed: Math.round(p.speed) });
        },
        retry(e) {
          emit({
            event: 'retry',
            item,
            attempt: e.attempt,
            retries: e.retries,
            delay: e.delay,
            ...errorFields(e.error),
          });
        },
        end(outcome) {
          totals.end(stats, outcome.ok);
          if (!outcome.ok) {
            if (outcome.line) emit({ event: 'error', item, ...errorFields(outcome.error) });
            return;
          }
          emit({
            event: 'done',
            item,
            bytes: stats.total,
            seconds: (Date.now() - stats.started) / 1000,
            averageSpeed: Math.round(stats.averageSpeed()),
            ...(stats.final?.alreadyComplete ? { alreadyComplete: true } : {}),
            ...(stats.final?.instant ? { instant: true } : {}),
            ...(stats.final?.restarted ? { restarted: true } : {}),
          });
        },
      };
    },
    log(line) {
      emit({ event: 'message', message: line });
    },
    stop() {
      if (count <= 1) return;
      const { done } = totals.bytes();
      emit({
        event: 'total',
        files: count,
        done: totals.finished,
        failed: totals.failed,
        bytes: done,
        seconds: (Date.now() - totals.started) / 1000,
      });
    },
  };
}

/** cli-progress (a CommonJS package), loaded only where bars are drawn: `-q` and `--json` never load it. */
function cliProgress(): typeof cliProgressModule {
  return createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;
}

function barsReporter(count: number, out: NodeJS.WriteStream): Reporter {
  const totals = new Totals(count);
  const bars = cliProgress();
  const multi = new bars.MultiBar(
    {
      // Not {total} or {value}: those are cli-progress's own (raw numbers).
      format: '{label} {phase} [{bar}] {percentage}% {doneText}/{totalText} {speedText} eta {etaText}{note}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      stream: out,
      fps: 10,
    },
    bars.Presets.shades_classic,
  );
  let started = false;
  const pad = (label: string) => (label.length > 24 ? `…${label.slice(-23)}` : label.padEnd(24));
  const totalBar =
    count > 1
      ? multi.create(1, 0, {
          label: pad('total'),
          phase: `0/${count}`.padEnd(9),
          doneText: '',
          totalText: '',
          speedText: '',
          etaText: '--',
          note: '',
        })
      : undefined;
  if (totalBar) started = true;
  const speed = new Map<Stats, number>();
  const refreshTotal = () => {
    if (!totalBar) return;
    const { done, total } = totals.bytes();
    let rate = 0;
    for (const v of speed.values()) rate += v;
    const ended = totals.finished + totals.failed === count;
    const seconds = (Date.now() - totals.started) / 1000;
    totalBar.setTotal(Math.max(1, total));
    totalBar.update(done, {
      phase: `${totals.finished + totals.failed}/${count}`.padEnd(9),
      doneText: fmtBytes(done),
      totalText: fmtBytes(total),
      // Once all have ended, the average over the run (not 0 B/s).
      speedText: ended ? `${fmtBytes(seconds > 0 ? done / seconds : 0)}/s avg` : `${fmtBytes(rate)}/s`,
      etaText: fmtEta(rate > 0 ? (total - done) / rate : null),
      note: totals.failed > 0 ? `  ${totals.failed} failed` : '',
    });
  };
  const log = (line: string) => {
    if (started) multi.log(`${line}\n`);
    else out.write(`${line}\n`);
  };
  return {
    start(label) {
      const stats = new Stats();
      totals.add(stats);
      started = true;
      const bar = multi.create(1, 0, {
        label: pad(label),
        phase: PHASE.starting,
        doneText: '',
        totalText: '',
        speedText: '',
        etaText: '',
        note: '',
      });
      return {
        progress(p) {
          stats.see(p);
          speed.set(stats, p.phase === 'done' ? 0 : p.speed);
          const shownSpeed = p.phase === 'done' ? stats.averageSpeed() : p.speed;
          bar.setTotal(Math.max(1, p.bytesTotal));
          bar.update(p.bytesTotal === 0 ? 1 : p.bytesDone, {
            phase: PHASE[p.phase],
            doneText: fmtBytes(p.bytesDone),
            totalText: fmtBytes(p.bytesTotal),
            speedText: `${fmtBytes(shownSpeed)}/s${p.phase === 'done' ? ' avg' : ''}`,
            etaText: fmtEta(p.eta),
            note: p.instant ? '  秒传 instant' : p.restarted ? '  restarted (changed on server)' : '',
          });
          refreshTotal();
        },
        retry(e) {
          log(`${label}: ${retryText(e)}`);
        },
        end(outcome) {
          totals.end(stats, outcome.ok);
          speed.delete(stats);
          const line = outcome.ok ? `${label} ${stats.summary(outcome.note)}` : outcome.line;
          if (line) log(line);
          multi.remove(bar);
          refreshTotal();
        },
      };
    },
    log,
    stop() {
      if (!started) return;
      refreshTotal();
      multi.update();
      multi.stop();
    },
  };
}

/** `--quiet` wins; `--json` shows progress as JSON lines; else bars on a terminal, lines if not. */
export function chooseMode(o: { quiet?: boolean; json?: boolean }): Mode {
  if (o.quiet) return 'quiet';
  if (o.json) return 'json';
  return process.stderr.isTTY ? 'bars' : 'lines';
}
