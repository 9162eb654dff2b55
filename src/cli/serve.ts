/** `resumable serve`: runs the server until SIGINT/SIGTERM. */
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { startServer } from '../server/app.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { type PrimaryMessage, runWorkers, type WorkerMessage, workerRole } from '../server/workers.js';
import { createStorage, describeStorage, type StorageConfig } from '../storage/create-storage.js';
import { parseCount, parseDuration, parsePort, parseSize, parseWorkers } from './parse.js';

/** The page built by `npm install` (web/dist at the package root), if present. */
function defaultWebDir(): string | null {
  const dir = fileURLToPath(new URL('../../web/dist', import.meta.url));
  return existsSync(dir) ? dir : null;
}

export function serveCommand(): Command {
  const env = (flag: string, name: string, description: string) => new Option(flag, description).env(name);
  return new Command('serve')
    .description('serve downloads (HTTP Range), the chunked upload API and the web page')
    .addOption(
      env('-p, --port <port>', 'RESUMABLE_PORT', 'port to listen on')
        .argParser(parsePort)
        .default(DEFAULT_CONFIG.port),
    )
    .addOption(
      env('--host <host>', 'RESUMABLE_HOST', 'address to bind (0.0.0.0 for all)').default(
        DEFAULT_CONFIG.host,
      ),
    )
    .addOption(
      env('-d, --data <dir>', 'RESUMABLE_DATA', 'data folder (uploads, published files)').default(
        DEFAULT_CONFIG.dataDir,
      ),
    )
    .addOption(
      env('--public-url <url>', 'RESUMABLE_PUBLIC_URL', 'base of the links handed out (behind a proxy)'),
    )
    .addOption(
      env('--cors-origin <origins>', 'RESUMABLE_CORS_ORIGIN', '* or a comma-separated origin list').default(
        '*',
      ),
    )
    .addOption(
      env('--max-chunk-size <size>', 'RESUMABLE_MAX_CHUNK_SIZE', 'largest accepted chunk')
        .argParser(parseSize)
        .default(DEFAULT_CONFIG.maxChunkSize, '64MiB'),
    )
    .addOption(
      env('--max-chunks <n>', 'RESUMABLE_MAX_CHUNKS', 'most chunks per file')
        .argParser(parseCount)
        .default(DEFAULT_CONFIG.maxChunks),
    )
    .addOption(
      env(
        '--min-body-rate <size>',
        'RESUMABLE_MIN_BODY_RATE',
        'bytes per second a request body must average (0: off)',
      )
        .argParser((v) => (v === '0' ? 0 : parseSize(v)))
        .default(DEFAULT_CONFIG.minBodyRate, '512'),
    )
    .addOption(
      env(
        '--body-rate-window <duration>',
        'RESUMABLE_BODY_RATE_WINDOW',
        'the window over which --min-body-rate is checked',
      )
        .argParser(parseDuration)
        .default(DEFAULT_CONFIG.bodyRateWindowMs, '60s'),
    )
    .addOption(
      env('--expire-after <duration>', 'RESUMABLE_EXPIRE_AFTER', 'delete incomplete uploads idle this long')
        .argParser(parseDuration)
        .default(DEFAULT_CONFIG.expireAfterMs, '24h'),
    )
    .addOption(
      env(
        '--library <dirs>',
        'RESUMABLE_LIBRARY',
        'folders served under /download, comma-separated (default: <data>/library with the sample wallpapers)',
      ),
    )
    .addOption(
      env('--storage <kind>', 'RESUMABLE_STORAGE', 'where uploads live: local (the data folder) or s3')
        .choices(['local', 's3'])
        .default('local'),
    )
    .addOption(
      env(
        '--s3-endpoint <url>',
        'RESUMABLE_S3_ENDPOINT',
        'S3-compatible endpoint (Ceph, MinIO); default AWS',
      ),
    )
    .addOption(env('--s3-bucket <name>', 'RESUMABLE_S3_BUCKET', 'bucket (created at start if missing)'))
    .addOption(env('--s3-region <region>', 'RESUMABLE_S3_REGION', 'region').default('us-east-1'))
    .addOption(
      env('--s3-prefix <prefix>', 'RESUMABLE_S3_PREFIX', 'key prefix').default('resumable-transfer/'),
    )
    .addOption(
      env(
        '--s3-access-key <id>',
        'RESUMABLE_S3_ACCESS_KEY',
        'access key id (default: AWS_ACCESS_KEY_ID and the AWS chain)',
      ),
    )
    .addOption(
      env(
        '--s3-secret-key <secret>',
        'RESUMABLE_S3_SECRET_KEY',
        'secret key (default: AWS_SECRET_ACCESS_KEY)',
      ),
    )
    .addOption(env('--web-dir <dir>', 'RESUMABLE_WEB_DIR', 'the built web page to serve at /'))
    .addOption(
      env(
        '--workers <n>',
        'RESUMABLE_WORKERS',
        'processes serving the port: a number or auto (one per core); one of them handles uploads',
      )
        .argParser(parseWorkers)
        .default(1),
    )
    .addOption(
      env('--log-level <level>', 'RESUMABLE_LOG_LEVEL', 'fatal|error|warn|info|debug|silent').default('info'),
    )
    .action(async (o: Record<string, unknown>) => {
      const workers = o.workers as number;
      if (workers > 1 && cluster.isPrimary) {
        const listen = { port: o.port as number, host: o.host as string };
        process.exitCode = await runWorkers(workers, listen, o.storage === 's3', (line) =>
          process.stderr.write(`${line}\n`),
        );
        return;
      }
      const worker = workerRole();
      let storageConfig: StorageConfig = { kind: 'local', dataDir: o.data as string };
      if (o.storage === 's3') {
        if (!o.s3Bucket) throw new Error('--storage s3 needs --s3-bucket (or RESUMABLE_S3_BUCKET)');
        storageConfig = {
          kind: 's3',
          bucket: o.s3Bucket as string,
          endpoint: o.s3Endpoint as string | undefined,
          region: o.s3Region as string,
          prefix: o.s3Prefix as string,
          accessKeyId: o.s3AccessKey as string | undefined,
          secretAccessKey: o.s3SecretKey as string | undefined,
          onBucketCreated: (bucket) => process.stdout.write(`created bucket ${bucket}\n`),
        };
      }
      const storage = await createStorage(storageConfig);
      const running = await startServer(
        {
          port: worker?.port ?? (o.port as number),
          host: o.host as string,
          dataDir: o.data as string,
          publicUrl: (o.publicUrl as string | undefined) ?? null,
          corsOrigin: o.corsOrigin as string,
          maxChunkSize: o.maxChunkSize as number,
          maxChunks: o.maxChunks as number,
          expireAfterMs: o.expireAfter as number,
          minBodyRate: o.minBodyRate as number,
          bodyRateWindowMs: o.bodyRateWindow as number,
          libraryDirs: typeof o.library === 'string' ? o.library.split(',').filter(Boolean) : null,
          webDir: (o.webDir as string | undefined) ?? defaultWebDir(),
          logLevel: o.logLevel as string,
          role: worker?.role ?? 'single',
          ownerSocket: worker?.ownerSocket ?? null,
        },
        { storage },
      );
      if (worker) process.send?.({ type: 'ready' } satisfies WorkerMessage);
      const base = running.config.publicUrl ?? running.url;
      // With --workers, the first worker speaks for all of them.
      if (!worker || worker.first)
        process.stdout.write(
          [
            `resumable-transfer listening on ${running.url}`,
            `  home        ${base}/${running.config.webDir ? '' : '   (an index of the files and the API: the web page is not built, run npm run build)'}`,
            `  downloads   ${base}/download/Wallpaper1.jpg … /download/Wallpaper10.jpg   (list: ${base}/api/files)`,
            `  upload API  ${base}/api/upload/handshake , ${base}/api/upload`,
            `  uploaded    ${base}/upload/<fileId><ext>`,
            `  ${storageConfig.kind === 's3' ? 'storage' : 'data   '}     ${describeStorage(storageConfig)}`,
            ...(worker
              ? [
                  `  workers     ${workers} processes${worker.role === 'owner' ? `, this one (${process.pid}) handles uploads` : ''}`,
                ]
              : []),
            '',
          ].join('\n'),
        );
      let stopping = false;
      const stop = (why: string) => {
        if (stopping) return;
        stopping = true;
        running.logger.info({ why }, 'stopping: finishing running requests');
        running.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      let signals = 0;
      const onSignal = (signal: string) => {
        // A second signal: stop now. (Ctrl-C reaches a worker directly and through the primary's
        // 'stop' message: that counts once.)
        if (++signals > 1) process.exit(130);
        stop(signal);
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      process.on('message', (m: PrimaryMessage) => {
        if (m?.type === 'stop') stop('asked by the primary process');
      });
    });
}
