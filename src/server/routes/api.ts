/** The server's own /api routes: the library list and the health check. */
import type { ServerResponse } from 'node:http';
import { sendJson } from '../../http/respond.js';
import { ok } from '../../protocol/envelope.js';
import type { ServerConfig } from '../config.js';
import type { Library } from '../library.js';

export async function filesRoute(library: Library, baseUrl: string, res: ServerResponse): Promise<void> {
  sendJson(res, 200, ok(await library.list(baseUrl)));
}

/** With --workers, says which process answered (the connection decides: see workers.ts). */
export function healthRoute(role: ServerConfig['role'], res: ServerResponse): void {
  const worker = role === 'single' ? {} : { worker: role, pid: process.pid };
  sendJson(res, 200, ok({ status: 'ok', ...worker }));
}
