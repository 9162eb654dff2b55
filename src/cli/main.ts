#!/usr/bin/env node
/** The `resumable` command. */
import { Command } from 'commander';
import { packageVersion } from '../client/node/identity.js';
import { cacheCommand } from './cache.js';
import { downloadCommand } from './download.js';
import { serveCommand } from './serve.js';
import { tokenCommand } from './token.js';
import { uploadCommand } from './upload.js';

const program = new Command('resumable')
  .description('Resumable downloads and chunked uploads over plain HTTP')
  .version(packageVersion())
  .addCommand(serveCommand())
  .addCommand(uploadCommand())
  .addCommand(downloadCommand())
  .addCommand(tokenCommand())
  .addCommand(cacheCommand());

// Usage errors exit 2 (help and --version 0), in every subcommand too.
for (const cmd of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
  cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
}

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`resumable: ${failureLine(err)}\n`);
  process.exit(1);
});

/** The one line a failure is told in; a port in use says what to do about it. */
function failureLine(err: unknown): string {
  const e = err as { code?: unknown; port?: unknown; address?: unknown; message?: unknown };
  if (e.code === 'EADDRINUSE' && typeof e.port === 'number')
    return `port ${e.port} is in use on ${String(e.address)} (another server is listening there): stop it, or choose another port with --port`;
  return err instanceof Error ? err.message : String(err);
}
