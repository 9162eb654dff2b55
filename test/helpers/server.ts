/** Starts the real server on port 0 over a fresh temp data folder. */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningServer, type ServerConfig, startServer } from '../../src/server/index.js';

export interface TestServer {
  url: string;
  dataDir: string;
  running: RunningServer;
  close(): Promise<void>;
}

export async function tempDir(prefix = 'rt-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * RESUMABLE_DURABILITY=chunk|group runs the in-process servers in that mode (like the CLI, whose
 * child servers read the same variable), so a test file can be run in both.
 */
const durability = process.env.RESUMABLE_DURABILITY as ServerConfig['durability'] | undefined;

export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? (await tempDir());
  // An empty library unless the test asks for one (null: the default, with the wallpapers).
  const libraryDirs =
    'libraryDirs' in overrides ? (overrides.libraryDirs ?? null) : [join(dataDir, 'lib-empty')];
  for (const d of libraryDirs ?? []) await mkdir(d, { recursive: true });
  const running = await startServer({
    port: 0,
    logLevel: 'silent',
    ...(durability ? { durability } : {}),
    ...overrides,
    dataDir,
    libraryDirs,
  });
  return {
    url: running.url,
    dataDir,
    running,
    async close() {
      await running.close();
      if (!overrides.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
