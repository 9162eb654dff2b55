/** `/api/health` for `serve --workers`: which process answers (used by the tests and the bench). */
import { get } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Health {
  status: string;
  worker?: string;
  pid?: number;
}

/** On a new connection each time: with --workers, the connection decides the process. */
export function health(base: string): Promise<Health> {
  return new Promise((resolve, reject) => {
    get(`${base}/api/health`, { agent: false }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => {
        text += b.toString();
      });
      res.on('end', () => resolve((JSON.parse(text) as { data: Health }).data));
    }).on('error', reject);
  });
}

/**
 * The processes that answer, pid → role, asking until `count` different ones did (a worker
 * joins a moment after the first one's banner) or about ten seconds passed.
 */
export async function answeringWorkers(base: string, count = 2): Promise<Map<number, string>> {
  const seen = new Map<number, string>();
  for (let i = 0; i < 100 && seen.size < count; i++) {
    const h = await health(base).catch(() => undefined);
    if (h?.pid && h.worker) seen.set(h.pid, h.worker);
    if (seen.size < count) await sleep(100);
  }
  return seen;
}
