/**
 * What `resumable upload` and `resumable download` load only when one of them runs: every command
 * is defined at start (for parsing and --help), and loading the transfer code and the progress bars
 * for all of them made every start pay for each (`resumable download` of a 1 KB file: 0.24 s,
 * against aria2's 0.03 s). Loaded when they run, with cli-progress only where bars are drawn and the
 * token signer only for `token`: 0.247 → 0.192 CPU seconds per start (mean of 20 runs of a 1 KB download).
 */
export { redactUserinfo } from '../client/core/http.js';
export { downloadFile } from '../client/node/download-file.js';
export { createHttpFetch } from '../client/node/http-fetch.js';
export { chooseMode, createReporter } from './progress.js';
export { runTransfers } from './run-transfers.js';
