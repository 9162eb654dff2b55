/** Prints the summary of the last chaos run from test-artifacts/chaos/*.json. */
import { readdir, readFile } from 'node:fs/promises';
import { type ChaosFigures, REPORT_DIR } from './report.js';

const files = (await readdir(REPORT_DIR).catch(() => [] as string[]))
  .filter((f) => f.endsWith('.json'))
  .sort();
const total: ChaosFigures = {
  requests: 0,
  bytes: 0,
  faults: {},
  transfersFinished: 0,
  bytesLost: 0,
  notes: [],
};
const lines: string[] = [];
for (const file of files) {
  const f = JSON.parse(await readFile(new URL(file, REPORT_DIR), 'utf8')) as ChaosFigures;
  total.requests += f.requests;
  total.bytes += f.bytes;
  total.transfersFinished += f.transfersFinished;
  total.bytesLost += f.bytesLost;
  for (const [k, v] of Object.entries(f.faults)) total.faults[k] = (total.faults[k] ?? 0) + v;
  const faults = Object.values(f.faults).reduce((a, b) => a + b, 0);
  lines.push(
    `  ${file.replace(/\.json$/, '').padEnd(14)} ${String(f.requests).padStart(7)} req ${(f.bytes / 1e6).toFixed(1).padStart(8)} MB ` +
      `${String(faults).padStart(5)} faults ${String(f.transfersFinished).padStart(4)} finished ${f.bytesLost} lost` +
      (f.notes.length ? `  (${f.notes.join('; ')})` : ''),
  );
}
const faults = Object.entries(total.faults)
  .map(([k, v]) => `${k} ${v}`)
  .join(', ');
console.log(`\nchaos summary\n${lines.join('\n')}`);
console.log(
  `  total          ${total.requests} requests, ${(total.bytes / 1e6).toFixed(1)} MB, faults injected: ${faults || 'none'}, ` +
    `${total.transfersFinished} transfers finished, bytes lost: ${total.bytesLost}`,
);
if (total.bytesLost !== 0) process.exitCode = 1;
