/**
 * `/` while the web page (issue #5) is not built: a plain index of what this server offers, so a
 * person who opens http://localhost:8000 sees the wallpapers and the API instead of a 404.
 */
import type { ServerResponse } from 'node:http';
import type { LibraryEntry } from '../../protocol/types.js';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function homeRoute(res: ServerResponse, files: LibraryEntry[], method: string): void {
  const rows = files
    .map(
      (f) =>
        `<li><a href="${esc(f.url)}">${esc(f.name)}</a> <small>${(f.size / 1e6).toFixed(2)} MB</small></li>`,
    )
    .join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>resumable-transfer</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .3em}</style>
</head><body>
<h1>resumable-transfer</h1>
<p>Resumable downloads (HTTP Range) and chunked uploads with MD5 handshake and instant upload (秒传).
The web page is not built here (run <code>npm run build</code>); meanwhile use the command line: <code>resumable upload FILE</code>,
<code>resumable download URL</code>, or any resuming client (<code>curl -C -</code>, <code>wget -c</code>, aria2).</p>
<h2>Downloads</h2>
<ul>
${rows}
</ul>
<h2>Upload API</h2>
<ul><li><code>POST /api/upload/handshake</code> — <code>{fileId, ext, chunkIds}</code></li>
<li><code>POST /api/upload</code> — multipart <code>file</code>, <code>chunkId</code>, <code>fileId</code></li>
<li><code>GET /api/files</code> — this list as JSON</li></ul>
</body></html>
`;
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(html));
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // No script at all; its one inline style block; framed by nobody.
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  );
  res.setHeader('X-Frame-Options', 'DENY');
  res.end(method === 'HEAD' ? undefined : html);
}
