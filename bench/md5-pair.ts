/**
 * Whether the hand-written paired MD5 (src/client/core/md5-pair.ts) still beats hash-wasm at its
 * job, in Node and in headless Chromium: `npx tsx bench/md5-pair.ts [runs]` prints MB/s, the
 * median of `runs` (default 3) for each. The figures go in the comment at the top of md5-pair.ts.
 */
import { build } from 'esbuild';
import { launchChromium } from '../test/helpers/browser.js';
import { type Md5PairFigures, measureMd5Pair } from './md5-pair-job.js';
import { ROOT } from './servers.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function print(where: string, f: Md5PairFigures): void {
  const show = (xs: number[]) =>
    `${median(xs).toFixed(0)} MB/s (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`;
  console.log(`${where}: paired ${show(f.paired)}; hash-wasm ${show(f.hashWasm)}`);
}

async function inChromium(runs: number): Promise<Md5PairFigures> {
  const bundle = await build({
    absWorkingDir: ROOT,
    stdin: {
      contents: `import { measureMd5Pair } from './bench/md5-pair-job.ts'; globalThis.measureMd5Pair = measureMd5Pair;`,
      resolveDir: ROOT,
      loader: 'ts',
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'warning',
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
    return await page.evaluate(
      (n) => (globalThis as unknown as { measureMd5Pair: typeof measureMd5Pair }).measureMd5Pair(n),
      runs,
    );
  } finally {
    await browser.close();
  }
}

const runs = Number(process.argv[2] ?? 3);
print(`Node ${process.version}`, await measureMd5Pair(runs));
print('Chromium', await inChromium(runs));
