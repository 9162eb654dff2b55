/** `resumable download <url...>` */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { parseCount, parseCountOrZero } from '../config/values.js';
import { credentialHeaders, headerOption, tokenOption } from './credentials.js';
import { optionParser } from './parse.js';
import { jobsOption, retriesOption, stallTimeoutOption, timeoutOption } from './transfer-options.js';

const HELP_AFTER = `
Redirects (301, 302, 303, 307, 308) are followed, up to --max-redirects; the size and ETag
checked on resume are those of the final URL, and -H/--token credentials are not sent on to
another host. A password in a URL is never printed.

Run again, the same command resumes: a kill -9 costs about the last second of transfer, a
machine crash about the last 5 s (progress is recorded every second in name.part.fast.json and
made durable every 5 s in name.part.json; after a reboot only the durable one is trusted).

A file that is already complete (the server's size, and its Last-Modified as the file's time,
which the download set) is left alone: "already complete", nothing fetched, exit 0. An existing
file of that name that is not this download is never overwritten: the download goes beside it
as name.1.ext (name.2.ext, ...) and says so; --force overwrites it instead.

Failures another attempt can fix (network errors, --timeout, --stall-timeout, 408, 429, 5xx)
are retried with backoff, honouring Retry-After, each with a "retrying in N s (attempt k/n)"
line; others (404, 401, 403, an unsupported protocol) fail at once.

With --json, stdout has one object per file ({url, path, alreadyComplete, insteadOf?}) and
progress goes to stderr as JSON lines; -q turns progress off.
Exit codes: 0 all done, 1 any failed, 2 usage, 3 unauthorized (401), 4 forbidden (403), 130 interrupted.`;

export function downloadCommand(): Command {
  return new Command('download')
    .description('download URLs with parallel ranges; resumes after any interruption, even kill -9')
    .argument('<url...>', 'URLs to download (any HTTP server)')
    .option(
      '-o, --output <path>',
      'file path, or folder (ends with /, exists, or several URLs; made if missing; default: current folder)',
    )
    .addOption(
      new Option('-c, --connections <n>', 'parallel connections per file')
        .argParser(optionParser(parseCount))
        .default(4),
    )
    .addOption(jobsOption())
    .addOption(retriesOption())
    .addOption(
      timeoutOption('give up an attempt whose answer has not begun after this (connecting included)'),
    )
    .addOption(
      stallTimeoutOption(
        'give up an attempt whose body sent nothing for this long (resumed where it stopped)',
      ),
    )
    .addOption(
      new Option('--max-redirects <n>', 'redirects followed per request (0: none)')
        .argParser(optionParser(parseCountOrZero))
        .default(10),
    )
    .option(
      '-f, --force',
      'overwrite an existing file that is not this download (default: write name.1.ext beside it)',
    )
    .addOption(headerOption())
    .addOption(tokenOption())
    .option(
      '--no-sync',
      'never fsync the file (as aria2, curl, wget): a killed download still resumes (Linux: needs the boot id), one cut by a crash of the machine starts over',
    )
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'one JSON object per file on stdout; progress as JSON lines on stderr')
    .addHelpText('after', HELP_AFTER)
    .action(async (urls: string[], o: Record<string, unknown>) => {
      let output = o.output as string | undefined;
      if (output && urls.length > 1) {
        // Several URLs: -o is a folder (made if missing), never one file for all of them.
        const kind = await stat(output).then(
          (s) => (s.isDirectory() ? 'folder' : 'file'),
          () => 'missing',
        );
        if (kind === 'file') {
          process.stderr.write(`resumable: with several URLs, -o must be a folder; ${output} is a file\n`);
          process.exitCode = 2;
          return;
        }
        if (!output.endsWith('/')) output += '/';
      }
      const { chooseMode, createReporter, downloadFile, redactUserinfo, runTransfers } = await import(
        './transfer-modules.js'
      );
      const mode = chooseMode(o);
      const reporter = createReporter(mode, urls.length);
      const label = (url: string) =>
        redactUserinfo(url).split(/[?#]/)[0]?.split('/').pop() || redactUserinfo(url);
      process.exitCode = await runTransfers(urls, {
        jobs: o.jobs as number,
        reporter,
        label,
        run: (url, signal, tracker) =>
          downloadFile(url, {
            destination: output,
            overwrite: o.force === true,
            connections: o.connections as number,
            retries: o.retries as number,
            timeout: o.timeout as number,
            stallTimeout: o.stallTimeout as number,
            maxRedirects: o.maxRedirects as number,
            sync: o.sync !== false,
            headers: credentialHeaders(o),
            signal,
            onProgress: (p) => tracker.progress(p),
            onRetry: (e) => tracker.retry(e),
          }),
        onDone: (url, r) => {
          const shown = redactUserinfo(url);
          if (r.insteadOf)
            reporter.log(
              `resumable: ${r.insteadOf} exists and is not this download: saved as ${r.path} (--force overwrites)`,
            );
          if (r.alreadyComplete && mode === 'quiet') reporter.log(`resumable: ${r.path}: already complete`);
          if (o.json) process.stdout.write(`${JSON.stringify({ url: shown, ...r })}\n`);
          else process.stdout.write(`${r.path}\n`);
          // The label is the URL's last segment, known before the server named the file
          // (Content-Disposition): `<md5>.bin done` said nothing of the u200.bin written.
          const saved = basename(r.path);
          return saved === label(url) ? undefined : `as ${saved}`;
        },
      });
    });
}
