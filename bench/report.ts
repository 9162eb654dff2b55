/** The benchmark's output: a table on stdout, and JSON + an SVG chart of ratios in bench/results. */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Stat } from './measure.js';

export interface Row {
  issue: string;
  measurement: string;
  unit: string;
  ours: Stat | null;
  peer: Stat | null;
  peerName: string;
  /** ours/peer, oriented as the goal is stated (e.g. time ratio or throughput ratio). */
  ratio: number | null;
  goal: string;
  note?: string;
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function fmtStat(s: Stat | null): string {
  if (!s) return '—';
  return s.runs > 1 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median);
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'cpu';
  return `${cpus().length} cores (${cpu.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function renderTable(rows: Row[]): string {
  const head = [
    'issue',
    'measurement',
    'unit',
    'ours (median, min–max)',
    'peer',
    'peer figure',
    'ratio',
    'goal',
  ];
  const lines = rows.map((r) => [
    r.issue,
    r.measurement,
    r.unit,
    fmtStat(r.ours),
    r.peerName,
    fmtStat(r.peer),
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
    r.note ? `${r.goal} — ${r.note}` : r.goal,
  ]);
  const all = [head, ...lines];
  return `${all
    .map((cols) => `| ${cols.join(' | ')} |`)
    .join('\n')
    .replace(/^(.*)$/m, (first) => `${first}\n|${head.map(() => '---').join('|')}|`)}\n`;
}

function svg(rows: Row[]): string {
  const withRatio = rows.filter((r) => r.ratio !== null);
  const w = 760;
  const barH = 26;
  const h = 40 + withRatio.length * (barH + 10);
  const max = Math.max(2, ...withRatio.map((r) => r.ratio!));
  const x0 = 330;
  const scale = (w - x0 - 60) / max;
  const bars = withRatio
    .map((r, i) => {
      const y = 30 + i * (barH + 10);
      const len = r.ratio! * scale;
      return `<text x="${x0 - 8}" y="${y + 17}" text-anchor="end" font-size="12">${r.measurement.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>
<rect x="${x0}" y="${y}" width="${len.toFixed(1)}" height="${barH}" fill="#3b82f6"/>
<text x="${x0 + len + 6}" y="${y + 17}" font-size="12">${r.ratio!.toFixed(2)}×</text>`;
    })
    .join('\n');
  const one = x0 + scale;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<text x="10" y="18" font-size="14" font-weight="bold">resumable-transfer vs peers (ratio, see goal per row)</text>
${bars}
<line x1="${one}" y1="24" x2="${one}" y2="${h - 4}" stroke="#ef4444" stroke-dasharray="4"/>
<text x="${one + 3}" y="${h - 6}" font-size="10" fill="#ef4444">1×</text>
</svg>\n`;
}

export async function writeResults(rows: Row[], meta: Record<string, unknown>): Promise<string> {
  const dir = join(import.meta.dirname, 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'latest.json'), `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
  await writeFile(join(dir, 'latest.svg'), svg(rows));
  await writeFile(join(dir, 'latest.md'), `${meta.date} — ${meta.machine}\n\n${renderTable(rows)}`);
  return dir;
}
