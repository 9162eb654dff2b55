/**
 * `npm install` must succeed on a machine without a C compiler (the sendfile addon is optional)
 * and say in one line whether sendfile is on. npm runs its own `node-gyp rebuild` for any package
 * with a binding.gyp at its root, which fails the whole install without `make`: so there must be
 * none there, and our install script must never fail.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';

const root = new URL('..', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'rt-install-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

it('has no binding.gyp at the package root, and installs the addon through its own script', () => {
  assert.equal(existsSync(join(root, 'binding.gyp')), false);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    files: string[];
  };
  assert.equal(pkg.scripts.install, 'node scripts/build-native.mjs');
  assert.ok(pkg.files.includes('native') && pkg.files.includes('scripts/build-native.mjs'));
});

it('without make on PATH, the install step exits 0 and says in one line that sendfile is off', () => {
  // A copy of the package's native parts, so the rebuild's clean step never touches the addon
  // the other tests load.
  const pkgDir = join(scratch, 'pkg');
  mkdirSync(join(pkgDir, 'scripts'), { recursive: true });
  cpSync(join(root, 'scripts', 'build-native.mjs'), join(pkgDir, 'scripts', 'build-native.mjs'));
  cpSync(join(root, 'native'), join(pkgDir, 'native'), {
    recursive: true,
    filter: (src) => !src.includes(`${join('native', 'build')}`),
  });
  // A PATH with node and python3 (node-gyp's other needs) but no make and no compiler.
  const bin = join(scratch, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  if (existsSync('/usr/bin/python3')) symlinkSync('/usr/bin/python3', join(bin, 'python3'));
  const r = spawnSync(process.execPath, [join(pkgDir, 'scripts', 'build-native.mjs')], {
    env: { PATH: bin, HOME: scratch },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  assert.match(lines[0] ?? '', /^resumable-transfer: sendfile off/);
  assert.equal(r.stderr, '');
  assert.equal(existsSync(join(pkgDir, 'native', 'build', 'Release', 'rt_sendfile.node')), false);
  assert.equal(existsSync(join(pkgDir, 'native', 'build', 'Release', 'rt_sha256.node')), false);
});
