/** `resumable download <url...>` */
import { stat } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { redactUserinfo } from '../client/core/http.js';
import { download } from '../client/node/index.js';
import { parseCount } from '../config/values.js';
import { credentialHeaders, headerOption, tokenOption } from './credentials.js';
import { optionParser } from './parse.js';
import { chooseMode, createReporter } from './progress.js';
import { errorLine, runTransfers } from './run-transfers.js';

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
    .addOption(
      new Option('--retries <n>', 'retries per request').argParser(optionParser(parseCount)).default(8),
    )
    .addOption(headerOption())
    .addOption(tokenOption())
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'print one JSON object per file on stdout')
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
      const reporter = createReporter(chooseMode(o));
      process.exitCode = await runTransfers(
        urls,
        (url, signal) =>
          download(url, {
            destination: output,
            connections: o.connections as number,
            retries: o.retries as number,
            headers: credentialHeaders(o),
            signal,
            onProgress: reporter.track(url.split('/').pop() || url),
          }),
        (url, path) => {
          if (o.json) process.stdout.write(`${JSON.stringify({ url, path })}\n`);
          else process.stdout.write(`${path}\n`);
        },
        (url, err) => process.stderr.write(`resumable: ${redactUserinfo(url)}: ${errorLine(err)}\n`),
        () => reporter.stop(),
      );
    });
}
