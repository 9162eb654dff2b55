/**
 * tus-js-client uploading one file (argv: endpoint, path[, protocol, chunk bytes]), as the peer of
 * `resumable upload`, and as the client of the tus cases.
 */
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Upload, type UploadOptions } from 'tus-js-client';

const [endpoint, path, protocol, chunk] = process.argv.slice(2) as [string, string, string?, string?];
const upload = new Upload(createReadStream(path), {
  endpoint,
  // The package's typings predate the `protocol` option.
  ...(protocol ? { protocol } : {}),
  ...(chunk ? { chunkSize: Number(chunk) } : {}),
  uploadSize: statSync(path).size,
  metadata: { filename: basename(path) },
  retryDelays: [0, 500, 1000],
  onError: (err) => {
    process.stderr.write(`${err}\n`);
    process.exit(1);
  },
  onSuccess: () => process.exit(0),
} as UploadOptions);
upload.start();
