/**
 * /metrics in the Prometheus text format (prom-client), one registry per server (several servers
 * may run in one process: tests, a library user). Every label takes few values, so an outsider
 * cannot grow the series: the route is its table entry (`/download/`, not the path asked for),
 * the method one of node:http's or `other`, the status a number node:http sent, the error code
 * one of src/protocol/errors.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { StreamService } from '../core/stream-service.js';
import type { UploadService } from '../core/upload-service.js';
import { clientAddress } from '../http/client-address.js';
import type { RequestSample } from '../http/pipeline.js';
import { TransferError } from '../protocol/errors.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Who may read /metrics: nobody, loopback clients only (the default), or everyone. */
export type MetricsAccess = 'off' | 'loopback' | 'on';

interface RequestSeries {
  requests: Counter.Internal;
  bytesOut: Counter.Internal;
  bytesIn: Counter.Internal;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly bytesOut: Counter<'route'>;
  private readonly bytesIn: Counter<'route'>;
  private readonly errors: Counter<'code'>;
  /**
   * The children of one route, method and status, found once: prom-client hashes the label
   * object on every inc() otherwise, on the path of every Range request. Bounded like the labels.
   */
  private readonly series = new Map<string, RequestSeries>();

  constructor(service: UploadService, streams: StreamService) {
    const registers = [this.registry];
    // Includes nodejs_eventloop_lag_seconds and the process's memory and descriptors.
    collectDefaultMetrics({ register: this.registry, prefix: 'resumable_' });
    this.requests = new Counter({
      name: 'resumable_http_requests_total',
      help: 'Answers by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.bytesOut = new Counter({
      name: 'resumable_http_sent_bytes_total',
      help: 'Bytes sent on the wire (headers and bodies, sendfile included) by route',
      labelNames: ['route'],
      registers,
    });
    this.bytesIn = new Counter({
      name: 'resumable_http_received_bytes_total',
      help: 'Bytes received on the wire by route',
      labelNames: ['route'],
      registers,
    });
    this.errors = new Counter({
      name: 'resumable_errors_total',
      help: 'Error answers by code (docs/errors.md)',
      labelNames: ['code'],
      registers,
    });
    const stat = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    stat('resumable_uploads_in_progress', 'Incomplete uploads held', () => service.stats().uploads);
    stat('resumable_upload_held_bytes', 'Bytes held by incomplete uploads', () => service.stats().heldBytes);
    stat('resumable_assemblies_running', 'Uploads being assembled now', () => service.stats().assemblies);
    stat(
      'resumable_assemblies_remembered',
      'Uploads whose assembled file is remembered for late requests (at most 4096, for 60 s)',
      () => service.stats().remembered,
    );
    // Counters read when scraped: the stream core counts them (several servers, one process).
    const counted = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    counted(
      'resumable_stream_readbacks_total',
      'tus/IETF uploads read back to hash them (the fold did not cover every byte, or concatenation)',
      () => streams.readBack().uploads,
    );
    counted(
      'resumable_stream_readback_bytes_total',
      'Bytes of tus/IETF uploads read back to hash them',
      () => streams.readBack().bytes,
    );
  }

  request(s: RequestSample): void {
    const method = METHODS.has(s.method) ? s.method : 'other';
    const key = `${s.route} ${method} ${s.status}`;
    let series = this.series.get(key);
    if (!series) {
      series = {
        requests: this.requests.labels(s.route, method, String(s.status)),
        bytesOut: this.bytesOut.labels(s.route),
        bytesIn: this.bytesIn.labels(s.route),
      };
      this.series.set(key, series);
    }
    series.requests.inc();
    if (s.bytesOut > 0) series.bytesOut.inc(s.bytesOut);
    if (s.bytesIn > 0) series.bytesIn.inc(s.bytesIn);
  }

  error(code: string): void {
    this.errors.inc({ code });
  }

  /** GET /metrics, answered as `access` says (404 when refused: nothing to discover). */
  async answer(access: MetricsAccess, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (access === 'off' || (access === 'loopback' && !isLoopback(clientAddress(req)))) {
      throw new TransferError('NOT_FOUND');
    }
    const body = await this.registry.metrics();
    res.writeHead(200, {
      'Content-Type': this.registry.contentType,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
