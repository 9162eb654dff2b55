/**
 * The sample wallpapers come from a per-machine cache, so a fresh data folder is ready at once
 * instead of after ~13 s of rendering (the first `npm start`, every test server).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import {
  ensureWallpapers,
  renderWallpaper,
  WALLPAPER_COUNT,
  wallpaperName,
} from '../src/server/wallpapers.js';

const scratch = mkdtempSync(join(tmpdir(), 'rt-wallpapers-'));
const savedCache = process.env.XDG_CACHE_HOME;
after(() => {
  process.env.XDG_CACHE_HOME = savedCache;
  rmSync(scratch, { recursive: true, force: true });
});

it('a fresh library folder is filled from the cache, without rendering', async () => {
  const cache = join(scratch, 'cache');
  const cached = join(cache, 'resumable-transfer', 'wallpapers-v1');
  mkdirSync(cached, { recursive: true });
  for (let n = 1; n <= WALLPAPER_COUNT; n++) writeFileSync(join(cached, wallpaperName(n)), `cached ${n}`);
  process.env.XDG_CACHE_HOME = cache;
  const library = join(scratch, 'library');
  const started = performance.now();
  const created = await ensureWallpapers(library);
  assert.equal(created.length, WALLPAPER_COUNT);
  // Rendering one takes over a second; ten copies take milliseconds.
  assert.ok(performance.now() - started < 1000, 'the wallpapers were rendered instead of copied');
  for (let n = 1; n <= WALLPAPER_COUNT; n++) {
    assert.equal(readFileSync(join(library, wallpaperName(n)), 'utf8'), `cached ${n}`);
  }
  // Present files are left alone.
  assert.deepEqual(await ensureWallpapers(library), []);
});

it('without a cache entry a wallpaper is rendered, and cached for the next folder', async () => {
  const cache = join(scratch, 'empty-cache');
  process.env.XDG_CACHE_HOME = cache;
  const library = join(scratch, 'library-2');
  mkdirSync(library);
  // All but the first present: only Wallpaper1 is rendered.
  for (let n = 2; n <= WALLPAPER_COUNT; n++) writeFileSync(join(library, wallpaperName(n)), 'x');
  assert.deepEqual(await ensureWallpapers(library), [wallpaperName(1)]);
  const rendered = renderWallpaper(1);
  assert.ok(readFileSync(join(library, wallpaperName(1))).equals(rendered));
  assert.ok(
    readFileSync(join(cache, 'resumable-transfer', 'wallpapers-v1', wallpaperName(1))).equals(rendered),
  );
});
