/** Options shared by `upload` and `download`: jobs, time limits, retries. */
import { Option } from 'commander';
import { parseCount, parseDuration } from '../config/values.js';
import { optionParser } from './parse.js';

export function jobsOption(): Option {
  return new Option('-j, --jobs <n>', 'transfers at once when several are given (as aria2)')
    .argParser(optionParser(parseCount))
    .default(5);
}

export function retriesOption(): Option {
  return new Option(
    '--retries <n>',
    'retries per request, for failures another attempt can fix (network, timeouts, 408, 429, 5xx)',
  )
    .argParser(optionParser(parseCount))
    .default(8);
}

export function timeoutOption(what: string): Option {
  return new Option('--timeout <duration>', what)
    .argParser(optionParser(parseDuration))
    .default(10_000, '10s');
}

export function stallTimeoutOption(what: string): Option {
  return new Option('--stall-timeout <duration>', what)
    .argParser(optionParser(parseDuration))
    .default(30_000, '30s');
}
