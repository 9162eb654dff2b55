/** The value parsers and the server configuration schema, without a server. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { configInput, serveOptions } from '../src/cli/serve-options.js';
import { parseDuration, parseHttpUrl, parseList, parseSize } from '../src/config/values.js';
import { ConfigError, DEFAULT_CONFIG, parseServerConfig } from '../src/server/config.js';
import { describeStorage } from '../src/storage/create-storage.js';

describe('parseSize', () => {
  it('reads plain bytes and KB/MB/GB, KiB/MiB/GiB in any case, as binary multiples', () => {
    assert.equal(parseSize('65536'), 65536);
    assert.equal(parseSize('8MiB'), 8 * 1024 * 1024);
    assert.equal(parseSize('8mb'), 8 * 1024 * 1024);
    assert.equal(parseSize('1GB'), 1024 ** 3);
    assert.equal(parseSize('1gib'), 1024 ** 3);
    assert.equal(parseSize('64KiB'), 64 * 1024);
    assert.equal(parseSize('1.5KB'), 1536);
  });

  it('refuses any other unit, with an example of a good value', () => {
    for (const bad of ['64XB', '4XB', '1TB', '12b', '1.5', 'MB', '', '-1MB', '0', '64 MiBs']) {
      assert.throws(() => parseSize(bad), /expected a size such as 65536, 8MiB or 1GB/, bad);
    }
  });
});

describe('parseDuration', () => {
  it('reads 90s, 30m, 24h; a plain number is seconds', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('24h'), 24 * 3600_000);
    assert.equal(parseDuration('5'), 5000);
    assert.throws(() => parseDuration('24hx'), /expected a duration such as 90s/);
  });
});

describe('parseHttpUrl', () => {
  it('accepts absolute http(s) URLs only', () => {
    assert.equal(parseHttpUrl('https://files.example.com'), 'https://files.example.com');
    assert.equal(parseHttpUrl('http://127.0.0.1:8000/base/'), 'http://127.0.0.1:8000/base/');
    for (const bad of ['notaurl', 'files.example.com', '/relative', 'ftp://files.example.com', 'file:///x']) {
      assert.throws(() => parseHttpUrl(bad), /expected an absolute http\(s\) URL such as https:\/\//, bad);
    }
  });
});

it('parseList drops empty items', () => {
  assert.deepEqual(parseList('a,,b,'), ['a', 'b']);
});

describe('parseServerConfig', () => {
  it('fills the defaults; storage defaults to the local disk under dataDir', () => {
    assert.equal(DEFAULT_CONFIG.port, 8000);
    assert.equal(DEFAULT_CONFIG.maxChunkSize, 64 * 1024 * 1024);
    assert.deepEqual(DEFAULT_CONFIG.storage, { kind: 'local', dataDir: './data' });
    const c = parseServerConfig({ dataDir: '/srv/rt', port: 0 });
    assert.equal(c.port, 0);
    assert.deepEqual(c.storage, { kind: 'local', dataDir: '/srv/rt' });
    assert.equal(c.publicUrl, null);
  });

  it('keeps a given storage, S3 included', () => {
    const onBucketCreated = () => undefined;
    const c = parseServerConfig({ storage: { kind: 's3', bucket: 'b', prefix: 'p/', onBucketCreated } });
    assert.deepEqual(c.storage, { kind: 's3', bucket: 'b', prefix: 'p/', onBucketCreated });
  });

  it('a bad value is a ConfigError naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ maxChunkSize: 0 }, /maxChunkSize: Too small/],
      [{ maxChunkSize: '64MiB' }, /maxChunkSize: Invalid input: expected number/],
      [{ port: 70000 }, /port: Too big/],
      [{ publicUrl: 'notaurl' }, /publicUrl: expected an absolute http\(s\) URL/],
      [{ logLevel: 'loud' }, /logLevel: Invalid option/],
      [{ storage: { kind: 's3' } }, /storage\.bucket: required with s3 storage/],
      [
        { storage: { kind: 's3', bucket: 'b', endpoint: 'rgw:7480' } },
        /storage\.endpoint: expected an absolute/,
      ],
      [{ maxChunkSzie: 5 }, /Unrecognized key: "maxChunkSzie"/],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => parseServerConfig(input),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
        JSON.stringify(input),
      );
    }
  });
});

it('--instant-upload reaches the configuration; unset, the server picks by --host (null here)', () => {
  assert.equal(parseServerConfig(configInput({ instantUpload: 'proof' }).server).instantUpload, 'proof');
  assert.equal(parseServerConfig(configInput({}).server).instantUpload, null);
  assert.throws(() => parseServerConfig({ instantUpload: 'maybe' }), ConfigError);
});

it('--durability reaches the configuration; group by default; anything but chunk or group is refused', () => {
  assert.equal(parseServerConfig(configInput({ durability: 'chunk' }).server).durability, 'chunk');
  assert.equal(parseServerConfig(configInput({}).server).durability, 'group');
  assert.throws(() => parseServerConfig({ durability: 'never' }), ConfigError);
});

describe('--s3-redirect and its settings', () => {
  /** `serve`'s options parsed as commander parses them, flags and environment. */
  function s3Config(argv: string[], env: Record<string, string> = {}) {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const cmd = new Command().exitOverride().configureOutput({ writeErr: () => undefined });
      for (const option of serveOptions()) cmd.addOption(option);
      cmd.parse(['--storage', 's3', '--s3-bucket', 'b', ...argv], { from: 'user' });
      return parseServerConfig(configInput(cmd.opts()).server).storage;
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }

  it('off by default; the flag alone, or its variable saying on, turns it on; off means off', () => {
    const none = s3Config([]);
    assert.ok(none.kind === 's3' && none.redirect === undefined);
    const on = s3Config(['--s3-redirect']);
    assert.ok(on.kind === 's3' && on.redirect === true && on.redirectTtlSeconds === 300);
    const env = s3Config([], { RESUMABLE_S3_REDIRECT: 'on' });
    assert.ok(env.kind === 's3' && env.redirect === true);
    const off = s3Config([], { RESUMABLE_S3_REDIRECT: 'off' });
    assert.ok(off.kind === 's3' && off.redirect === false, 'RESUMABLE_S3_REDIRECT=off is off');
    assert.throws(() => s3Config([], { RESUMABLE_S3_REDIRECT: 'maybe' }), /expected on or off/);
  });

  it('the start-up banner says that /upload/ is redirected, to where, and for how long', () => {
    const base = { kind: 's3' as const, bucket: 'b', endpoint: 'http://rgw:7480' };
    assert.doesNotMatch(describeStorage(base), /redirect/);
    assert.match(
      describeStorage({ ...base, redirect: true, publicEndpoint: 'https://s3.example' }),
      /^s3:\/\/b\/ at http:\/\/rgw:7480; \/upload\/ redirected to https:\/\/s3\.example \(URLs valid 300 s\)$/,
    );
    assert.match(
      describeStorage({ ...base, redirect: true, redirectTtlSeconds: 60 }),
      /to http:\/\/rgw:7480 \(URLs valid 60 s\)/,
    );
  });

  it('the ttl (seconds, or a duration) and the public endpoint reach the storage; 7 days at most', () => {
    const c = s3Config([
      '--s3-redirect',
      '--s3-redirect-ttl',
      '2m',
      '--s3-public-endpoint',
      'https://s3.example',
    ]);
    assert.ok(c.kind === 's3');
    assert.equal(c.redirectTtlSeconds, 120);
    assert.equal(c.publicEndpoint, 'https://s3.example');
    assert.equal(
      (s3Config(['--s3-redirect-ttl', '45']) as { redirectTtlSeconds?: number }).redirectTtlSeconds,
      45,
    );
    assert.throws(() => s3Config(['--s3-redirect-ttl', '8d']), /storage\.redirectTtlSeconds: Too big/);
    assert.throws(() => s3Config(['--s3-public-endpoint', 's3.example']), /expected an absolute http/);
  });
});
