/**
 * The seed's ten sample wallpapers, generated on first start (no network, nothing large in git).
 * Deterministic: the same pixels and, with the pinned jpeg-js, the same bytes on every machine.
 * Each is a 1920×1080 JPEG (quality 90) of interfering waves in its own palette plus fine grain,
 * which keeps them visibly different and around 1 MB each.
 *
 * Rendering all ten takes ~13 s of CPU, which every fresh data folder (a first `npm start`, each
 * test server) used to pay before its port opened. They are rendered once per machine into a cache
 * (`$XDG_CACHE_HOME` or `~/.cache`, `resumable-transfer/wallpapers-v1/`; `npm run build` fills it
 * at install) and copied from there. Bump the folder's version when the rendering changes.
 */
import { constants } from 'node:fs';
import { copyFile, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';

export const WALLPAPER_COUNT = 10;
const WIDTH = 1920;
const HEIGHT = 1080;

export function wallpaperName(n: number): string {
  return `Wallpaper${n}.jpg`;
}

/** Encodes wallpaper number n (1..10). */
export function renderWallpaper(n: number): Buffer {
  const data = Buffer.alloc(WIDTH * HEIGHT * 4);
  let seed = (0x9e3779b9 ^ Math.imul(n, 0x85ebca6b)) >>> 0;
  const random = () => {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    return seed / 4294967296;
  };
  const fx = 1 + n * 0.37;
  const fy = 0.6 + n * 0.23;
  const phase = n * 1.7;
  const clamp = (v: number) => (v < 0 ? 0 : Math.min(v, 255));
  for (let y = 0; y < HEIGHT; y++) {
    const v = y / HEIGHT;
    for (let x = 0; x < WIDTH; x++) {
      const u = x / WIDTH;
      const wave =
        Math.sin(u * fx * 12 + phase) +
        Math.sin(v * fy * 15 - phase) +
        Math.sin((u + v) * 9 * fx + Math.sin(v * 7) * 2) +
        Math.sin(Math.hypot(u - 0.5, v - 0.5) * 40 * fy);
      const t = (wave + 4) / 8;
      const grain = (random() - 0.5) * 40;
      const i = (y * WIDTH + x) * 4;
      data[i] = clamp(128 + 127 * Math.sin(t * 12.566 + n) + grain);
      data[i + 1] = clamp(128 + 127 * Math.sin(t * 18.85 + n * 2 + 1) + grain);
      data[i + 2] = clamp(128 + 127 * Math.cos(t * 9.42 + n * 0.5) + grain);
      data[i + 3] = 255;
    }
  }
  return jpeg.encode({ data, width: WIDTH, height: HEIGHT }, 90).data;
}

function cacheDir(): string | undefined {
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : '');
  return base ? join(base, 'resumable-transfer', 'wallpapers-v1') : undefined;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Writes bytes to path atomically (readers never see half a file). */
async function writeAtomic(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}

/**
 * Wallpaper n from the cache if there, else rendered (and cached where the cache is writable);
 * undefined when not cached and `render` is false.
 */
async function cachedWallpaper(n: number, render = true): Promise<string | Buffer | undefined> {
  const dir = cacheDir();
  const cached = dir && join(dir, wallpaperName(n));
  if (cached && (await exists(cached))) return cached;
  if (!render) return undefined;
  const bytes = renderWallpaper(n);
  if (dir && cached) {
    await mkdir(dir, { recursive: true })
      .then(() => writeAtomic(cached, bytes))
      .catch(() => undefined); // no writable cache: render again next time
  }
  return bytes;
}

/** Renders the wallpapers into the cache (the build step), so a first start copies instead. */
export async function fillWallpaperCache(): Promise<void> {
  for (let n = 1; n <= WALLPAPER_COUNT; n++) await cachedWallpaper(n);
}

/**
 * Writes the wallpapers missing from dir; returns the names it created. With `render: false`, only
 * those in the cache (a copy takes milliseconds; a render seconds): the others stay missing.
 */
export async function ensureWallpapers(dir: string, { render = true } = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const created: string[] = [];
  for (let n = 1; n <= WALLPAPER_COUNT; n++) {
    const path = join(dir, wallpaperName(n));
    if (await exists(path)) continue;
    const source = await cachedWallpaper(n, render);
    if (source === undefined) continue;
    if (typeof source === 'string') {
      const tmp = `${path}.${process.pid}.tmp`;
      // A reflink where the file system offers one, a plain copy elsewhere.
      await copyFile(source, tmp, constants.COPYFILE_FICLONE);
      await rename(tmp, path);
    } else {
      await writeAtomic(path, source);
    }
    created.push(wallpaperName(n));
  }
  return created;
}
