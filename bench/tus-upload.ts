/** tus-js-client uploading one file (argv: endpoint, path), as the peer of `resumable upload`. */
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Upload } from 'tus-js-client';

const [endpoint, path] = process.argv.slice(2) as [string, string];
const upload = new Upload(createReadStream(path), {
  endpoint,
  uploadSize: statSync(path).size,
  metadata: { filename: basename(path) },
  retryDelays: [0, 500, 1000],
  onError: (err) => {
    process.stderr.write(`${err}\n`);
    process.exit(1);
  },
  onSuccess: () => process.exit(0),
});
upload.start();
