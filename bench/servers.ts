/**
 * The servers under test: ours (the built CLI), nginx (sendfile on) and @tus/server (FileStore, or
 * S3Store).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { answeringWorkers } from '../test/helpers/health.js';
import { freePort } from '../test/helpers/ports.js';
import type { S3Endpoint } from '../test/helpers/s3.js';

export const ROOT = join(import.meta.dirname, '..');

export interface Running {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(url, { method: 'HEAD' });
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`${url} did not come up`);
}

/**
 * Stops a server. nginx gets SIGTERM (its master then stops its workers; a SIGKILL of the master
 * left the workers running), SIGKILL after 5 s; the others SIGKILL at once.
 */
function stopper(proc: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): () => Promise<void> {
  return async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    const late = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(late);
  };
}

export async function startOurs(dataDir: string, libraryDir: string, extra: string[] = []): Promise<Running> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [
      ...(process.env.RT_SERVER_NODE_ARGS ? process.env.RT_SERVER_NODE_ARGS.split(' ') : []),
      join(ROOT, 'dist/cli/resumable.cjs'),
      'serve',
      '--port',
      String(port),
      '--data',
      dataDir,
      '--library',
      libraryDir,
      '--log-level',
      'warn',
      ...extra,
    ],
    { stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/api/health`);
  // With --workers: until every worker answers (the others start a moment after the first).
  const workers = extra.indexOf('--workers');
  const count = workers >= 0 ? Number(extra[workers + 1]) : 1;
  if (count > 1 && (await answeringWorkers(url, count)).size < count)
    throw new Error(`${url}: not all of its ${count} workers answer`);
  return {
    url,
    pid: proc.pid!,
    stop: stopper(proc, process.env.RT_SERVER_NODE_ARGS ? 'SIGTERM' : 'SIGKILL'),
  };
}

export async function startNginx(workDir: string, root: string): Promise<Running> {
  const port = await freePort();
  await mkdir(workDir, { recursive: true });
  const conf = join(workDir, 'nginx.conf');
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  await writeFile(
    conf,
    `${user} daemon off; worker_processes 2; pid ${workDir}/nginx.pid; error_log ${workDir}/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; keepalive_requests 100000;
  client_body_temp_path ${workDir}/b; proxy_temp_path ${workDir}/p; fastcgi_temp_path ${workDir}/f;
  uwsgi_temp_path ${workDir}/u; scgi_temp_path ${workDir}/s;
  server { listen 127.0.0.1:${port}; root ${root}; } }`,
  );
  const proc = spawn('nginx', ['-c', conf, '-p', workDir], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(url);
  return { url, pid: proc.pid!, stop: stopper(proc, 'SIGTERM') };
}

/** `web`: a folder served beside /files (bench/tus-server.ts). */
export function startTus(dir: string, web?: string): Promise<Running> {
  return startTusScript('bench/tus-server.ts', [dir, ...(web ? [web] : [])]);
}

/** @tus/server with @tus/s3-store on this endpoint, its uploads under `prefix` of the bucket. */
export function startTusS3(ep: S3Endpoint, prefix: string): Promise<Running> {
  return startTusScript('bench/tus-s3-server.ts', [ep.bucket, prefix], {
    ...process.env,
    S3_ENDPOINT: ep.endpoint,
    AWS_ACCESS_KEY_ID: ep.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ep.secretAccessKey,
  });
}

/** bench/plain-proxy.ts in front of `target`. */
export async function startPlainProxy(target: string): Promise<Running> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench/plain-proxy.ts'), String(port), target],
    {
      stdio: 'ignore',
      cwd: ROOT,
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(url);
  return { url, pid: proc.pid!, stop: stopper(proc) };
}

/** A tus server script of bench/ (argv: a free port, then `args`), once it answers. */
async function startTusScript(script: string, args: string[], env = process.env): Promise<Running> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), String(port), ...args], {
    stdio: 'ignore',
    cwd: ROOT,
    env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/files`);
  return { url, pid: proc.pid!, stop: stopper(proc) };
}

/** A run on an empty data folder with nothing left to write back, against a server started for it. */
export async function onFreshServer<S extends { url: string; stop(): Promise<void> }>(
  dir: string,
  start: (dir: string) => Promise<S>,
  run: (server: S) => Promise<number>,
): Promise<number> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  execFileSync('sync');
  const server = await start(dir);
  try {
    return await run(server);
  } finally {
    await server.stop();
  }
}
