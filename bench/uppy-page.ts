/**
 * The Uppy side of the page-vs-Uppy bench (bundled by bench/page-uploads.ts, served by
 * bench/tus-server.ts beside its /files): @uppy/core with @uppy/tus and a plain file input, no
 * Dashboard. A picked file is added and uploaded at once (autoProceed), in PATCHes of the chunk
 * size the query names (`?chunk=` bytes). Uppy's 'complete' puts its result on the body.
 */
import Uppy from '@uppy/core';
import Tus from '@uppy/tus';

const chunk = Number(new URL(location.href).searchParams.get('chunk'));
const uppy = new Uppy({ autoProceed: true }).use(Tus, {
  endpoint: `${location.origin}/files/`,
  ...(chunk > 0 ? { chunkSize: chunk } : {}),
});

const input = document.querySelector('input')!;
input.addEventListener('change', () => {
  for (const file of input.files ?? []) uppy.addFile({ name: file.name, type: file.type, data: file });
});
uppy.on('complete', (result) => {
  const body = document.body.dataset;
  body.result = JSON.stringify({
    uploadUrls: (result.successful ?? []).map((f) => f.uploadURL ?? ''),
    failed: (result.failed ?? []).map((f) => `${f.name}: ${String(f.error)}`),
  });
  body.complete = 'true';
});
document.body.dataset.ready = 'true';
