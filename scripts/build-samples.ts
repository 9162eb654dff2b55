/**
 * Renders the seed's sample wallpapers into the per-machine cache (npm run build, hence npm
 * install), so the first `npm start` copies them instead of rendering for ~13 s before listening.
 */
import { fillWallpaperCache } from '../src/server/wallpapers.js';

await fillWallpaperCache();
