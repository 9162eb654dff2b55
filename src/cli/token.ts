/**
 * `resumable token sign`: issues a signed upload token (src/http/auth/signed-token.ts) for a
 * server run with `--auth signed`, as an application backend would. Prints the token only.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration, parseSize } from '../config/values.js';
import { optionParser } from './parse.js';

function parseFileId(value: string): string {
  if (!/^[0-9a-fA-F]{32}$/.test(value)) throw new Error('expected an MD5 of 32 hex digits');
  return value.toLowerCase();
}

function readSecret(o: Record<string, unknown>): string {
  if (typeof o.secret === 'string' && o.secret) return o.secret;
  if (typeof o.secretFile !== 'string')
    throw new InvalidArgumentError('give --secret-file (or RESUMABLE_AUTH_SECRET)');
  try {
    return readFileSync(o.secretFile, 'utf8');
  } catch (err: unknown) {
    throw new InvalidArgumentError(
      `cannot read the secret file ${o.secretFile} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
}

function signCommand(): Command {
  return new Command('sign')
    .description('print a signed upload token for a server run with --auth signed')
    .addOption(
      new Option('--secret-file <file>', "the server's signing secret").env('RESUMABLE_AUTH_SECRET_FILE'),
    )
    .addOption(new Option('--secret <secret>', 'the secret itself').env('RESUMABLE_AUTH_SECRET').hideHelp())
    .addOption(
      new Option('--expires <duration>', 'valid for this long (90s, 30m, 1h, 7d)')
        .argParser(optionParser(parseDuration))
        .default(3_600_000, '1h'),
    )
    .addOption(
      new Option('--max-size <size>', 'largest file it may upload').argParser(optionParser(parseSize)),
    )
    .addOption(
      new Option('--file-id <md5>', 'the one file it may upload').argParser(optionParser(parseFileId)),
    )
    .option('--subject <name>', "who it is for (the uploads' owner)")
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const { signUploadToken } = await import('../http/auth/signed-token.js');
      let secret: string;
      try {
        secret = readSecret(o);
        const token = signUploadToken(secret, {
          exp: (Date.now() + (o.expires as number)) / 1000,
          max: o.maxSize as number | undefined,
          fid: o.fileId as string | undefined,
          sub: o.subject as string | undefined,
        });
        process.stdout.write(`${token}\n`);
      } catch (err: unknown) {
        cmd.error(`error: ${err instanceof Error ? err.message : String(err)}`, { exitCode: 2 });
      }
    });
}

export function tokenCommand(): Command {
  return new Command('token').description('signed upload tokens (--auth signed)').addCommand(signCommand());
}
