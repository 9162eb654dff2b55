/**
 * The download worker: runs the core download with an OPFS target (sync access handles exist only
 * in workers), so network reads and writes never touch the page's thread.
 */
import { TransferError } from '../../protocol/errors.js';
import { downloadTo } from '../core/download.js';
import { withCredentials } from '../core/http.js';
import type { DownloadCommand, DownloadReport } from './download-messages.js';
import { keyOf } from './opfs-store.js';
import { OpfsTarget } from './opfs-target.js';

const controller = new AbortController();

function report(msg: DownloadReport): void {
  self.postMessage(msg);
}

self.onmessage = (e: MessageEvent<DownloadCommand>) => {
  const cmd = e.data;
  if (cmd.type === 'abort') {
    controller.abort();
    return;
  }
  const { url, ...rest } = cmd;
  downloadTo(url, async (info) => new OpfsTarget(await keyOf(url), info.name), {
    ...rest,
    fetch: withCredentials(globalThis.fetch.bind(globalThis), rest),
    signal: controller.signal,
    onProgress: (progress) => report({ type: 'progress', progress }),
  }).then(
    (result) => report({ type: 'done', result }),
    (err: unknown) => {
      const te =
        err instanceof TransferError ? err : new TransferError('LOCAL_IO', String(err), { cause: err });
      report({ type: 'error', code: te.code, message: te.message, status: te.status });
    },
  );
};
