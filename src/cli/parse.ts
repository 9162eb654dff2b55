/** The value parsers (config/values.ts) as commander argument parsers. */
import { InvalidArgumentError } from 'commander';

/**
 * A parser's complaint as commander's usage error: it then names the option (or its environment
 * variable) and exits 2 (main.ts).
 */
export function optionParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err: unknown) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
  };
}
