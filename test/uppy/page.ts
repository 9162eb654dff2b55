/**
 * The page test/uppy.test.ts loads in Chromium (bundled by esbuild when the test starts): Uppy's
 * Dashboard with its tus uploader, pointed at the endpoint named in the page's query
 * (`?endpoint=`), on another origin than the page. Uppy keeps each upload's URL in localStorage
 * under its file's fingerprint (tus-js-client's url storage), so the same files added after a
 * reload resume where their uploads stand.
 */
import Uppy from '@uppy/core';
import Dashboard from '@uppy/dashboard';
import Tus from '@uppy/tus';
import '@uppy/core/css/style.min.css';
import '@uppy/dashboard/css/style.min.css';

const endpoint = new URL(location.href).searchParams.get('endpoint') ?? '';
const uppy = new Uppy({ autoProceed: false })
  .use(Dashboard, { inline: true, target: '#uppy', width: 900, height: 520 })
  .use(Tus, {
    endpoint,
    // Small chunks: the request still in flight when the page reloads ends soon (Chromium lets it
    // run), and pausing loses little.
    chunkSize: 256 * 1024,
    // A PATCH that meets the lock of the previous page's last one is 409 UPLOAD_BUSY: retried.
    retryDelays: [0, 300, 1000, 2000, 3000, 5000],
    removeFingerprintOnSuccess: true,
  });

/** What the test reads: the files' progress and the result of the last upload run. */
const state: { complete: { successful: number; failed: string[] } | null } = { complete: null };
uppy.on('complete', (result) => {
  state.complete = {
    successful: result.successful?.length ?? 0,
    failed: (result.failed ?? []).map((f) => `${f.name}: ${String(f.error)}`),
  };
});
Object.assign(window, {
  uploadState: state,
  uploaded: () => uppy.getFiles().map((f) => ({ name: f.name, bytes: f.progress.bytesUploaded || 0 })),
  paused: () => uppy.getFiles().map((f) => f.isPaused === true),
});
document.body.dataset.ready = 'true';
