/** `resumable cache path` and `resumable cache clear`: the upload hash cache. */
import { Command } from 'commander';
import { clearHashCache, defaultCacheDir } from '../client/node/hash-cache.js';

const HELP_AFTER = `
upload remembers the hashes of each file it read (by path, size and modification time), so an
unchanged file is not read again to resume. They live in $XDG_CACHE_HOME/resumable-transfer/hashes
(default ~/.cache/resumable-transfer/hashes), or in $RESUMABLE_CACHE_DIR when it is set.`;

export function cacheCommand(): Command {
  return new Command('cache')
    .description('the upload hash cache: where it is, and clearing it')
    .addHelpText('after', HELP_AFTER)
    .addCommand(
      new Command('path').description('print the hash cache folder').action(() => {
        process.stdout.write(`${defaultCacheDir()}\n`);
      }),
    )
    .addCommand(
      new Command('clear')
        .description('forget every cached hash (the next upload of each file reads it again)')
        .action(async () => {
          const dir = defaultCacheDir();
          const removed = await clearHashCache(dir);
          process.stdout.write(
            `removed ${removed} cached ${removed === 1 ? 'entry' : 'entries'} from ${dir}\n`,
          );
        }),
    );
}
