/**
 * Starting a worker thread from a module next to the caller, whether the code runs from dist/
 * (plain .js) or from the sources (tests run `node --import tsx`).
 */
import { Worker } from 'node:worker_threads';

/** The module `name` (without extension) next to `from` (the caller's import.meta.url). */
export function threadModule(from: string, name: string): URL {
  return new URL(`./${name}${from.endsWith('.ts') ? '.ts' : '.js'}`, from);
}

export function startThread(thread: URL): Worker {
  if (thread.pathname.endsWith('.js')) return new Worker(thread);
  // From the sources: the worker inherits `--import tsx`, but tsx 4 registers its loader on the
  // main thread only under Node 20 (it needs worker_threads.isInternalThread, which Node 20
  // lacks), so the worker loads the module through tsx's API instead. Never taken from dist/,
  // where tsx is not installed.
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const load = `import(${api}).then((tsx) => tsx.tsImport(${JSON.stringify(thread.href)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(load, { eval: true });
}
