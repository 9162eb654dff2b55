/**
 * #17: our web page uploading one file in headless Chromium (hash + send + verify: the page hashes
 * the file, the handshake, the chunks, the server's check of the whole) vs Uppy (@uppy/core +
 * @uppy/tus, which hashes nothing) → @tus/server with its FileStore. Same file, same browser, same
 * run, in turns; each upload on a fresh server (empty data folder) in a fresh browser profile.
 * Each is checked after its time is taken: ours by downloading its link, Uppy's by the file tus
 * stored, both against the file's MD5.
 */
import { createHash } from 'node:crypto';
import { stat as fileStat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultChunkSize } from '../../src/client/browser/index.js';
import { launchChromium } from '../../test/helpers/browser.js';
import { md5File } from '../../test/helpers/bytes.js';
import { alone, compared, LIB, makeFile, need, QUICK, RUNS, WORK } from '../context.js';
import { interleave, MB, MiB, peakRss, type Stat, stat } from '../measure.js';
import { buildUppyPage, ourPageUpload, uppyUpload } from '../page-uploads.js';
import { onFreshServer, startOurs, startTus } from '../servers.js';

async function md5Of(url: string): Promise<{ md5: string; size: number }> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`GET ${url}: ${res.status}`);
  const h = createHash('md5');
  let size = 0;
  const reader = res.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    h.update(r.value);
    size += r.value.byteLength;
  }
  return { md5: h.digest('hex'), size };
}

export async function pageVsUppy() {
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!need(chromium, 'chromium')) return;
  const size = QUICK ? 64 * MiB : 512 * MiB;
  const file = join(WORK, 'page-upload.bin');
  await makeFile(file, size);
  const md5 = await md5File(file);
  const uppyPage = join(WORK, 'uppy-page');
  await buildUppyPage(uppyPage);
  // Uppy's PATCHes as big as our page's chunks (its own default: the whole file in one PATCH).
  const chunk = defaultChunkSize(size);
  const rss: number[] = [];
  const browser = await launchChromium();
  try {
    const ours = () =>
      onFreshServer(
        join(WORK, 'page-data'),
        (dir) => startOurs(dir, LIB),
        async (server) => {
          const r = await ourPageUpload(browser, `${server.url}/`, file);
          rss.push((await peakRss(server.pid)) / MB);
          const got = await md5Of(r.link);
          if (r.bytesSent !== size || got.size !== size || got.md5 !== md5)
            throw new Error(`our page: sent ${r.bytesSent}, ${r.link} has ${got.size} bytes, MD5 ${got.md5}`);
          return r.ms / 1000;
        },
      );
    const uppy = () =>
      onFreshServer(
        join(WORK, 'uppy-data'),
        (dir) => startTus(dir, uppyPage),
        async (server) => {
          const r = await uppyUpload(browser, `${server.url}/?chunk=${chunk}`, file);
          const stored = join(WORK, 'uppy-data', new URL(r.uploadUrl).pathname.split('/').pop()!);
          const got = { size: (await fileStat(stored)).size, md5: await md5File(stored) };
          if (got.size !== size || got.md5 !== md5)
            throw new Error(`Uppy: ${stored} has ${got.size} bytes, MD5 ${got.md5}`);
          return r.ms / 1000;
        },
      );
    const [ourTime, uppyTime] = (await interleave(RUNS, [ours, uppy])) as [Stat, Stat];
    compared(
      '#17',
      `web page upload of ${size / MiB} MiB in headless Chromium (hash + send + verify); Uppy in ${chunk / MiB} MiB PATCHes, our page's chunk size`,
      's',
      ourTime,
      uppyTime,
      'Uppy + @uppy/tus → @tus/server',
      1,
      true,
      '≤ 1.0× Uppy time',
    );
    alone('#17', 'server peak RSS, web page upload', 'MB', stat(rss));
  } finally {
    await browser.close();
    await rm(file, { force: true });
    await rm(uppyPage, { recursive: true, force: true });
  }
}
