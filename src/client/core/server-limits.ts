/**
 * What a server accepts, learnt before the chunk size is chosen: GET /api/version answers
 * `limits: {maxChunkSize, maxChunks}` (PROTOCOL.md §Server limits). A server without it (the
 * course's) is planned for as before; its handshake refuses a chunk size it cannot take.
 */
import { TransferError } from '../../protocol/errors.js';
import { callApi } from './http.js';

const MiB = 1024 * 1024;
/** The question is a courtesy: a server that does not answer it soon is planned for without it. */
const LIMITS_TIMEOUT = 10_000;

export interface ServerLimits {
  /** Largest chunk the server takes, in bytes. */
  maxChunkSize?: number;
  /** Most chunks in one file's plan. */
  maxChunks?: number;
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** The server's limits, or {} when it does not say (any failure but an abort). */
export async function serverLimits(
  fetchImpl: typeof fetch,
  base: string,
  signal: AbortSignal | undefined,
): Promise<ServerLimits> {
  const timeout = AbortSignal.timeout(LIMITS_TIMEOUT);
  try {
    const answer = await callApi<{ limits?: Record<string, unknown> } | null>(
      fetchImpl,
      `${base}/api/version`,
      { method: 'GET' },
      signal ? AbortSignal.any([signal, timeout]) : timeout,
    );
    const limits = answer.data?.limits ?? {};
    const out: ServerLimits = {};
    const maxChunkSize = positive(limits.maxChunkSize);
    const maxChunks = positive(limits.maxChunks);
    if (maxChunkSize !== undefined) out.maxChunkSize = maxChunkSize;
    if (maxChunks !== undefined) out.maxChunks = maxChunks;
    return out;
  } catch (err: unknown) {
    if (signal?.aborted) throw err instanceof TransferError ? err : new TransferError('ABORTED');
    return {};
  }
}

/**
 * The chunk size to plan with: `wanted`, or, when the server takes less, the largest whole MiB
 * it takes (the limit itself below 1 MiB).
 */
export function fitChunkSize(wanted: number, limits: ServerLimits): number {
  const max = limits.maxChunkSize;
  if (max === undefined || wanted <= max) return wanted;
  return max >= MiB ? Math.floor(max / MiB) * MiB : max;
}
