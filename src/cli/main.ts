#!/usr/bin/env node
/** The `resumable` command. */
import { Command } from 'commander';
import { serveCommand } from './serve.js';

const program = new Command('resumable')
  .description('Resumable downloads and chunked uploads over plain HTTP')
  .version('0.1.0')
  .addCommand(serveCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`resumable: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
