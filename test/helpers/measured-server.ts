/**
 * A real server in a child process started with --expose-gc, for tests that measure what it
 * holds: over IPC, 'measure' runs a full GC and answers the process's heapUsed and RSS. The
 * config overrides come as JSON in argv[2]; the URL is sent once listening.
 */
import { startServer } from '../../src/server/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !process.send) throw new Error('run with --expose-gc and an IPC channel');
const running = await startServer({ port: 0, logLevel: 'silent', ...JSON.parse(process.argv[2] ?? '{}') });
process.send({ url: running.url });
process.on('message', (m: string) => {
  if (m === 'measure') {
    gc();
    gc();
    const { heapUsed, rss } = process.memoryUsage();
    process.send?.({ heapUsed, rss });
  } else if (m === 'stop') {
    void running.close().then(() => process.exit(0));
  }
});
