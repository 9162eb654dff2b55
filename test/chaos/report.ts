/**
 * Counters of a chaos run: each test file adds its figures, prints them, and leaves them in
 * test-artifacts/chaos/ so `npm run test:chaos` can print one summary at the end (summary.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';

export interface ChaosFigures {
  requests: number;
  bytes: number;
  faults: Record<string, number>;
  transfersFinished: number;
  bytesLost: number;
  notes: string[];
}

export const REPORT_DIR = new URL('../../test-artifacts/chaos/', import.meta.url);

export function figures(): ChaosFigures {
  return { requests: 0, bytes: 0, faults: {}, transfersFinished: 0, bytesLost: 0, notes: [] };
}

/** A fetch that counts requests and the body bytes actually sent and received. */
export function countingFetch(f: ChaosFigures): typeof fetch {
  return async (input, init) => {
    f.requests++;
    const body = init?.body;
    if (body instanceof Uint8Array) f.bytes += body.length;
    const res = await fetch(input, init);
    if (!res.body) return res;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        f.bytes += chunk.length;
        controller.enqueue(chunk);
      },
    });
    return new Response(res.body.pipeThrough(counter), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}

export async function saveFigures(name: string, f: ChaosFigures): Promise<void> {
  await mkdir(REPORT_DIR, { recursive: true });
  await writeFile(new URL(`${name}.json`, REPORT_DIR), JSON.stringify(f, null, 2));
  const faults = Object.entries(f.faults)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  console.log(
    `chaos ${name}: ${f.requests} requests, ${(f.bytes / 1e6).toFixed(1)} MB, faults: ${faults || 'none'}, ` +
      `${f.transfersFinished} transfers finished, ${f.bytesLost} bytes lost`,
  );
}
