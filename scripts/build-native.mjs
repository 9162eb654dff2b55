// Builds the addons in native/ (Linux only: sendfile.c, and md5.c + sha256.c, the hashes a tus/IETF
// upload folds as it arrives) with the node-gyp that npm bundles, as the package's `install`
// script. binding.gyp lives in native/, not at the package root: at the root, npm would run its
// own `node-gyp rebuild` on install, which fails the whole install on a machine without a C
// compiler. Optional: if they cannot be built (no compiler, no Node headers, another OS), the
// server streams through user space instead, and reads a tus/IETF upload back once at completion
// for its SHA-256. Either way this prints one line and exits 0.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const native = join(import.meta.dirname, '..', 'native');
if (process.platform !== 'linux') {
  console.log(
    'resumable-transfer: sendfile off (Linux only); downloads are copied through user space, ' +
      'tus/IETF uploads read back for their SHA-256',
  );
  process.exit(0);
}
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
].filter((p) => p && existsSync(p));
const gyp = candidates[0];
// Build against this Node's own headers (no download): npm's nodedir, else next to the binary.
const prefix = join(dirname(process.execPath), '..');
const nodedir =
  process.env.npm_config_nodedir ||
  (existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined);
const args = [gyp, 'rebuild', '--directory', native, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = gyp
  ? spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
  : { status: 1, stderr: 'node-gyp not found' };
if (r.status === 0) {
  console.log(
    'resumable-transfer: sendfile on, MD5 and SHA-256 folds in OpenSSL on, port on 8 sockets (native/sendfile.c, md5.c, sha256.c, listen.c built)',
  );
} else {
  // node-gyp explains itself over dozens of lines: keep the one that names what is missing.
  const lines = (r.stderr || '').split('\n').filter((l) => l.includes('ERR!'));
  const found = lines.find((l) => /not found|Error:/.test(l)) ?? lines.at(-1) ?? 'node-gyp failed';
  const why = found.replace(/^gyp ERR!\s*(stack\s*)?/, '').trim();
  console.log(
    `resumable-transfer: sendfile off, addons not built (${why}); downloads are copied through ` +
      'user space, tus/IETF uploads read back for their SHA-256',
  );
}
