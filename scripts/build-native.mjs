// Builds native/sendfile.c (Linux only) with the node-gyp that npm bundles. Optional: if it cannot
// be built (no compiler, no Node headers, another OS), the server streams through user space
// instead, and this says so in one line without failing the install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

if (process.platform !== 'linux') process.exit(0);
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
const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = gyp
  ? spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
  : { status: 1, stderr: 'node-gyp not found' };
if (r.status !== 0) {
  const why = (r.stderr || '').trim().split('\n').filter(Boolean).at(-1) ?? 'unknown error';
  console.warn(`native sendfile not built (${why}); downloads will be copied through user space`);
}
