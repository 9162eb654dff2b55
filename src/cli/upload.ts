/** `resumable upload <file...>` */
import { Command, Option } from 'commander';
import { parseCount, parseServerUrl, parseSize } from '../config/values.js';
import { credentialHeaders, headerOption, tokenOption } from './credentials.js';
import { optionParser } from './parse.js';
import { jobsOption, retriesOption, stallTimeoutOption, timeoutOption } from './transfer-options.js';

const HELP_AFTER = `
Run again, the same command resumes: chunks the server holds are not sent again, and an
unchanged file is not hashed again. Failures another attempt can fix (network errors,
--timeout, --stall-timeout, 408, 429, 5xx) are retried with backoff; others fail at once.

With --json, stdout has one object per file ({file, url, fileId, instant, bytesSent,
hashCached}) and progress goes to stderr as JSON lines; -q turns progress off.
Exit codes: 0 all done, 1 any failed, 2 usage, 3 unauthorized (401), 4 forbidden (403), 130 interrupted.`;

export function uploadCommand(): Command {
  return new Command('upload')
    .description('upload files in resumable chunks; prints each file URL (run again to resume)')
    .argument('<file...>', 'files to upload')
    .addOption(
      new Option('-s, --server <url>', 'server base URL (http:// when it names none)')
        .env('RESUMABLE_SERVER')
        .default('http://localhost:8000')
        .argParser(optionParser(parseServerUrl)),
    )
    .addOption(
      new Option(
        '--chunk-size <size>',
        'bytes per chunk (default: 4MiB, larger for huge files or when the server prefers it: 8MiB on S3)',
      ).argParser(optionParser(parseSize)),
    )
    .addOption(
      new Option('--concurrency <n>', 'chunks in flight').argParser(optionParser(parseCount)).default(4),
    )
    .addOption(jobsOption())
    .addOption(retriesOption())
    .addOption(timeoutOption('give up an attempt that cannot connect within this'))
    .addOption(
      stallTimeoutOption('give up an attempt that moves no byte either way for this long (then retried)'),
    )
    .addOption(headerOption())
    .addOption(tokenOption())
    .option('--deferred', 'send chunks while the file is still hashed, where the server offers it')
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'one JSON object per file on stdout; progress as JSON lines on stderr')
    .addHelpText('after', HELP_AFTER)
    .action(async (files: string[], o: Record<string, unknown>) => {
      const { chooseMode, createHttpFetch, createReporter, runTransfers } = await import(
        './transfer-modules.js'
      );
      const { upload } = await import('../client/node/index.js');
      const reporter = createReporter(chooseMode(o), files.length);
      const transport = createHttpFetch({
        connectTimeout: o.timeout as number,
        idleTimeout: o.stallTimeout as number,
      });
      process.exitCode = await runTransfers(files, {
        jobs: o.jobs as number,
        reporter,
        label: (file) => file,
        run: (file, signal, tracker) =>
          upload(file, {
            server: o.server as string,
            chunkSize: o.chunkSize as number | undefined,
            concurrency: o.concurrency as number,
            ...(o.deferred === true ? { deferred: true } : {}),
            retries: o.retries as number,
            headers: credentialHeaders(o),
            fetch: transport,
            signal,
            onProgress: (p) => tracker.progress(p),
            onRetry: (e) => tracker.retry(e),
          }),
        onDone: (file, r) => {
          if (o.json) process.stdout.write(`${JSON.stringify({ file, ...r })}\n`);
          else
            process.stdout.write(
              `${r.url}${r.instant ? '  (instant upload: the server already had it)' : ''}\n`,
            );
          return undefined;
        },
      });
    });
}
