/**
 * `node wallpapers-fill.js <dir>`: writes the sample wallpapers missing from dir, then prints the
 * names it created as one JSON line. The server runs this in a child process after it begins
 * listening (app.ts): rendering is ~13 s of CPU on a cold cache (wallpapers.ts), which in the
 * server's own process would stall every request for a second or more per wallpaper.
 */
import { ensureWallpapers } from './wallpapers.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: wallpapers-fill <dir>\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(await ensureWallpapers(dir))}\n`);
