/** Renders docs/errors.md from the error table in src/protocol/errors.ts (npm run docs:errors). */
import { writeFileSync } from 'node:fs';
import { ERRORS } from '../src/protocol/errors.js';

export function renderErrorsDoc(): string {
  const lines = [
    '# Error codes',
    '',
    'Generated from `src/protocol/errors.ts` by `npm run docs:errors`; a test fails if they differ.',
    '',
    'Every `/api/*` error is `{ "code": <HTTP status>, "msg": <message>, "data": null, "error": <code> }`.',
    '`msg` is Chinese by default and English when `Accept-Language` prefers English. The client',
    'library rejects with a `TransferError` whose `code` is the same string; codes with HTTP status',
    '`—` are raised by the client itself and never cross the wire.',
    '',
    '| error | HTTP | meaning (en) | msg (zh) | what to do |',
    '|---|---|---|---|---|',
  ];
  for (const [code, e] of Object.entries(ERRORS)) {
    lines.push(`| \`${code}\` | ${e.status || '—'} | ${e.en} | ${e.zh} | ${e.action} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1]?.endsWith('errors-doc.ts')) {
  writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
}
