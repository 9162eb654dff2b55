/**
 * How transfers are shown: cli-progress bars on a terminal, a plain line every few seconds when
 * stderr is not a TTY, nothing with --quiet. Results go to stdout (one line each, or JSON lines).
 */

import bytes from 'bytes';
import cliProgress from 'cli-progress';
import type { Progress } from '../client/core/types.js';

export type Mode = 'bars' | 'lines' | 'quiet';

export interface Reporter {
  /** A progress callback for one transfer. */
  track(label: string): (p: Progress) => void;
  stop(): void;
}

function fmtBytes(n: number): string {
  return bytes.format(n, { decimalPlaces: 1, unitSeparator: ' ' }) ?? `${n} B`;
}

function fmtEta(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '--';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const PHASE: Record<Progress['phase'], string> = {
  hashing: 'hashing  ',
  uploading: 'uploading',
  downloading: 'download ',
  done: 'done     ',
};

export function createReporter(mode: Mode): Reporter {
  if (mode === 'quiet') return { track: () => () => undefined, stop: () => undefined };
  if (mode === 'lines') {
    return {
      track(label) {
        let last = 0;
        let lastPhase = '';
        return (p) => {
          const now = Date.now();
          if (p.phase === lastPhase && now - last < 2000 && p.phase !== 'done') return;
          if (p.phase === 'done' && lastPhase === 'done') return;
          last = now;
          lastPhase = p.phase;
          const pct = p.bytesTotal > 0 ? Math.floor((p.bytesDone / p.bytesTotal) * 100) : 100;
          const extra = p.instant
            ? ' (instant upload)'
            : p.restarted
              ? ' (restarted: the file changed on the server)'
              : '';
          process.stderr.write(
            `${label} ${PHASE[p.phase].trim()} ${pct}% ${fmtBytes(p.bytesDone)}/${fmtBytes(p.bytesTotal)} ${fmtBytes(p.speed)}/s eta ${fmtEta(p.eta)}${extra}\n`,
          );
        };
      },
      stop: () => undefined,
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      format: '{label} {phase} [{bar}] {percentage}% {done}/{total} {speed}/s eta {eta_text}{note}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      stream: process.stderr,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    track(label) {
      const short = label.length > 24 ? `…${label.slice(-23)}` : label.padEnd(24);
      const bar = multi.create(1, 0, {
        label: short,
        phase: PHASE.hashing,
        done: '',
        total: '',
        speed: '',
        eta_text: '',
        note: '',
      });
      return (p) => {
        bar.setTotal(Math.max(1, p.bytesTotal));
        bar.update(p.bytesTotal === 0 ? 1 : p.bytesDone, {
          phase: PHASE[p.phase],
          done: fmtBytes(p.bytesDone),
          total: fmtBytes(p.bytesTotal),
          speed: fmtBytes(p.speed),
          eta_text: fmtEta(p.eta),
          note: p.instant ? '  秒传 instant' : p.restarted ? '  restarted (changed on server)' : '',
        });
      };
    },
    stop: () => multi.stop(),
  };
}

export function chooseMode(o: { quiet?: boolean; json?: boolean }): Mode {
  if (o.quiet || o.json) return 'quiet';
  return process.stderr.isTTY ? 'bars' : 'lines';
}
