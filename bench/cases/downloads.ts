/** Downloads: one connection vs nginx, random 64 KiB ranges vs nginx (wrk), segmented vs aria2. */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alone, beside, CLI, compared, LIB, need, QUICK, RUNS, SIZE, WORK } from '../context.js';
import { interleave, MB, type Stat, stat, timed } from '../measure.js';
import { startNginx, startOurs } from '../servers.js';

export async function downloads() {
  if (!need('nginx', 'nginx-light') || !need('curl', 'curl')) return;
  const ours = await startOurs(join(WORK, 'dl-data'), LIB);
  // nginx runs two worker processes here; --workers 2 is our same arrangement.
  const ours2 = await startOurs(join(WORK, 'dl-data-2'), LIB, ['--workers', '2']);
  const nginx = await startNginx(join(WORK, 'nginx'), LIB);
  try {
    const curl = async (url: string) => {
      const r = await timed('curl', ['-s', '-f', '-o', '/dev/null', url]);
      return SIZE / MB / (r.ms / 1000);
    };
    const [o, n] = (await interleave(RUNS, [
      () => curl(`${ours.url}/download/bench.bin`),
      () => curl(`${nginx.url}/bench.bin`),
    ])) as [Stat, Stat];
    compared(
      '#3',
      'one-connection download (curl → /dev/null)',
      'MB/s',
      o,
      n,
      'nginx sendfile',
      0.8,
      false,
      '≥ 0.8× nginx',
    );
    if (need('wrk', 'wrk')) {
      const script = join(WORK, 'ranges.lua');
      await writeFile(
        script,
        `math.randomseed(42)\nrequest = function()\n  local s = math.random(0, ${SIZE - 65536})\n  return wrk.format("GET", nil, { Range = "bytes=" .. s .. "-" .. (s + 65535) })\nend\n`,
      );
      const wrk = async (url: string, seconds = QUICK ? 3 : 8) => {
        const out = execFileSync('wrk', ['-t2', '-c32', `-d${seconds}s`, '-s', script, url], {
          encoding: 'utf8',
        });
        return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
      };
      // One short untimed run each first: our server's code is compiled by V8 as it runs, and
      // the first seconds after a start measured 15–35% lower than the steady state.
      for (const url of [`${ours.url}/download/bench.bin`, `${ours2.url}/download/bench.bin`])
        await wrk(url, 2);
      const [wo, wo2, wn] = await interleave(RUNS, [
        () => wrk(`${ours.url}/download/bench.bin`),
        () => wrk(`${ours2.url}/download/bench.bin`),
        () => wrk(`${nginx.url}/bench.bin`),
      ]);
      compared(
        '#3',
        'random 64 KiB ranges, 32 connections (wrk)',
        'req/s',
        wo!,
        wn!,
        'nginx sendfile',
        0.5,
        false,
        '≥ 0.5× nginx',
      );
      compared(
        '#3',
        'random 64 KiB ranges, 32 connections (wrk), serve --workers 2',
        'req/s',
        wo2!,
        wn!,
        'nginx sendfile',
        0.5,
        false,
        '≥ 0.5× nginx',
      );
    }
    if (need('aria2c', 'aria2')) {
      const out = join(WORK, 'dl-out');
      const rssOurs: number[] = [];
      // Ours without sync, as aria2 writes (the figure), and with it (our default).
      const ours = (extra: string[]) => async () => {
        await rm(out, { recursive: true, force: true });
        await mkdir(out, { recursive: true });
        const r = await timed(process.execPath, [
          CLI,
          'download',
          '-q',
          '-c',
          '8',
          ...extra,
          '-o',
          out,
          `${nginx.url}/bench.bin`,
        ]);
        rssOurs.push(r.peakRss / MB);
        return r.ms / 1000;
      };
      const [ourTime, ariaTime, syncedTime] = await interleave(RUNS, [
        ours(['--no-sync']),
        async () => {
          await rm(out, { recursive: true, force: true });
          await mkdir(out, { recursive: true });
          const r = await timed('aria2c', [
            '-q',
            '-x8',
            '-s8',
            '--allow-overwrite=true',
            '-d',
            out,
            '-o',
            'bench.bin',
            `${nginx.url}/bench.bin`,
          ]);
          return r.ms / 1000;
        },
        ours([]),
      ]);
      await rm(out, { recursive: true, force: true });
      compared(
        '#17',
        'segmented download to disk, 8 connections (from nginx), --no-sync (neither side fsyncs)',
        's',
        ourTime!,
        ariaTime!,
        'aria2c -x8 -s8',
        1,
        true,
        '≤ 1.0× aria2 time',
      );
      beside(
        '#17',
        'segmented download to disk, 8 connections (from nginx), default: fsynced before the rename',
        's',
        syncedTime!,
        ariaTime!,
        'aria2c -x8 -s8 (no fsync)',
      );
      alone('#17', 'client peak RSS, download', 'MB', stat(rssOurs), 150);
    }
  } finally {
    await ours.stop();
    await ours2.stop();
    await nginx.stop();
  }
}
