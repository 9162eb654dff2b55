import { mkdir, writeFile } from 'node:fs/promises';
import { startServer } from '../src/server/index.js';
import { launchChromium } from '../test/helpers/browser.js';

await mkdir('/tmp/rdweb', { recursive: true });
await mkdir('/tmp/rdlib', { recursive: true });
await writeFile('/tmp/rdweb/index.html', '<!doctype html><body><input type="file">');
const server = await startServer({
  port: 0,
  dataDir: '/tmp/rddata',
  libraryDirs: ['/tmp/rdlib'],
  webDir: '/tmp/rdweb',
  logLevel: 'silent',
});
const browser = await launchChromium();
const page = await browser.newPage();
await page.goto(`${server.url}/`);
await page.setInputFiles('input', '/tmp/bh.bin');
const workerSrc = `
onmessage = async (e) => {
  const { blob, mode, slice, ahead } = e.data;
  const t = performance.now();
  let n = 0;
  if (mode === 'slices') {
    const reads = []; let at = 0;
    const fill = () => { while (reads.length < ahead && at < blob.size) { reads.push(blob.slice(at, at + slice).arrayBuffer()); at += slice; } };
    fill();
    while (reads.length) { const b = await reads.shift(); fill(); n += b.byteLength; }
  } else if (mode === 'stream') {
    const r = blob.stream().getReader();
    for (;;) { const { done, value } = await r.read(); if (done) break; n += value.byteLength; }
  } else if (mode === 'sync') {
    const fr = new FileReaderSync();
    for (let at = 0; at < blob.size; at += slice) n += fr.readAsArrayBuffer(blob.slice(at, at + slice)).byteLength;
  }
  postMessage({ ms: performance.now() - t, n });
};`;
const CASES = [
  ['slices', 8 << 20, 3],
  ['slices', 8 << 20, 1],
  ['slices', 32 << 20, 2],
  ['slices', 2 << 20, 8],
  ['stream', 0, 0],
  ['sync', 8 << 20, 0],
  ['sync', 32 << 20, 0],
  ['slices', 8 << 20, 3],
] as const;
for (const [mode, slice, ahead] of [...CASES, ...CASES, ...CASES]) {
  const r = await page.evaluate(
    async ([src, mode, slice, ahead]) => {
      const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
      const blob = document.querySelector('input')!.files![0]!;
      const out = await new Promise<{ ms: number; n: number }>((res) => {
        w.onmessage = (e) => res(e.data);
        w.postMessage({ blob, mode, slice, ahead });
      });
      w.terminate();
      return out;
    },
    [workerSrc, mode, slice, ahead] as const,
  );
  console.log(mode, slice >> 20, ahead, (r.n / 1e6 / (r.ms / 1000)).toFixed(0), 'MB/s');
}
await browser.close();
await server.close();
