/** `upload` and `download`'s credentials: `-H 'Name: value'` (repeatable) and `--token` (RESUMABLE_TOKEN). */
import { InvalidArgumentError, Option } from 'commander';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** One `Name: value` line as a [name, value] pair. */
export function parseHeaderLine(line: string): [string, string] {
  const colon = line.indexOf(':');
  const name = colon < 0 ? '' : line.slice(0, colon).trim();
  const value = colon < 0 ? '' : line.slice(colon + 1).trim();
  if (!HEADER_NAME.test(name)) throw new Error(`expected a header such as 'Authorization: Bearer …'`);
  if (/[\r\n\0]/.test(value)) throw new Error('a header value cannot hold a line break');
  return [name, value];
}

export function headerOption(): Option {
  return new Option('-H, --header <line>', "extra request header 'Name: value' (repeatable)").argParser(
    (line: string, previous: [string, string][] | undefined) => {
      try {
        return [...(previous ?? []), parseHeaderLine(line)];
      } catch (err: unknown) {
        throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
      }
    },
  );
}

export function tokenOption(): Option {
  return new Option('--token <token>', 'bearer token sent with every request').env('RESUMABLE_TOKEN');
}

/** The headers the options ask for; undefined when none. */
export function credentialHeaders(o: Record<string, unknown>): Record<string, string> | undefined {
  const headers: Record<string, string> = {};
  for (const [name, value] of (o.header as [string, string][] | undefined) ?? [])
    headers[name.toLowerCase()] = value;
  if (typeof o.token === 'string' && o.token) headers.authorization = `Bearer ${o.token}`;
  return Object.keys(headers).length > 0 ? headers : undefined;
}
