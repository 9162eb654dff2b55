/** `resumable serve`: runs the server until SIGINT/SIGTERM. */
import { Command } from 'commander';
import { serveOptions } from './serve-options.js';

export function serveCommand(): Command {
  const command = new Command('serve').description(
    'serve downloads (HTTP Range), the chunked upload API and the web page',
  );
  for (const option of serveOptions()) command.addOption(option);
  return command.action(async (_options: unknown, cmd: Command) => {
    // Imported only to serve: `upload` and `download` need neither the server nor the schema
    // (zod), and start in 0.4 s instead of 0.7 s without them (`upload --help`, a busy 2-core machine).
    const { serve } = await import('./serve-run.js');
    await serve(cmd.opts(), (message) => cmd.error(message));
  });
}
