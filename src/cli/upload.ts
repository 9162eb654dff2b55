/** `resumable upload <file...>` */
import { Command, Option } from 'commander';
import { upload } from '../client/node/index.js';
import { parseCount, parseSize } from '../config/values.js';
import { credentialHeaders, headerOption, tokenOption } from './credentials.js';
import { optionParser } from './parse.js';
import { chooseMode, createReporter } from './progress.js';
import { errorLine, runTransfers } from './run-transfers.js';

export function uploadCommand(): Command {
  return new Command('upload')
    .description('upload files in resumable chunks; prints each file URL (run again to resume)')
    .argument('<file...>', 'files to upload')
    .addOption(
      new Option('-s, --server <url>', 'server base URL')
        .env('RESUMABLE_SERVER')
        .default('http://localhost:8000'),
    )
    .addOption(
      new Option('--chunk-size <size>', 'bytes per chunk (default: 4MiB, larger for huge files)').argParser(
        optionParser(parseSize),
      ),
    )
    .addOption(
      new Option('--concurrency <n>', 'chunks in flight').argParser(optionParser(parseCount)).default(4),
    )
    .addOption(
      new Option('--retries <n>', 'retries per request').argParser(optionParser(parseCount)).default(8),
    )
    .addOption(headerOption())
    .addOption(tokenOption())
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'print one JSON object per file on stdout')
    .action(async (files: string[], o: Record<string, unknown>) => {
      const reporter = createReporter(chooseMode(o));
      process.exitCode = await runTransfers(
        files,
        (file, signal) =>
          upload(file, {
            server: o.server as string,
            chunkSize: o.chunkSize as number | undefined,
            concurrency: o.concurrency as number,
            retries: o.retries as number,
            headers: credentialHeaders(o),
            signal,
            onProgress: reporter.track(file),
          }),
        (file, r) => {
          if (o.json) process.stdout.write(`${JSON.stringify({ file, ...r })}\n`);
          else
            process.stdout.write(
              `${r.url}${r.instant ? '  (instant upload: the server already had it)' : ''}\n`,
            );
        },
        (file, err) => process.stderr.write(`resumable: ${file}: ${errorLine(err)}\n`),
        () => reporter.stop(),
      );
    });
}
