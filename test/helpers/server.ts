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

export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? (await tempDir());
  // An empty library unless the test asks for one (null: the default, with the wallpapers).
  const libraryDirs =
    'libraryDirs' in overrides ? (overrides.libraryDirs ?? null) : [join(dataDir, 'lib-empty')];
  for (const d of libraryDirs ?? []) await mkdir(d, { recursive: true });
  const running = await startServer({ port: 0, logLevel: 'silent', ...overrides, dataDir, libraryDirs });
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
