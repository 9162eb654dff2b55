/**
 * The CLI's access-control modes (`serve --auth none|token|signed`) as an Authorize hook, read once
 * at start. The files' contents and the secret are never logged or put into an error message.
 */
import { readFileSync } from 'node:fs';
import { bearerAuthorizer, parseTokenList } from './bearer.js';
import { signedTokenAuthorizer } from './signed-token.js';
import type { Authorize } from './types.js';

export interface AuthSettings {
  auth: 'none' | 'token' | 'signed';
  authTokensFile: string | null;
  authTokens: readonly string[] | null;
  authSecretFile: string | null;
  authSecret: string | null;
}

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err: unknown) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new Error(`cannot read the ${what} file ${path} (${code})`);
  }
}

/** undefined: no access control. Throws, naming the setting, when a mode lacks what it needs. */
export function builtInAuthorizer(settings: AuthSettings): Authorize | undefined {
  switch (settings.auth) {
    case 'none':
      return undefined;
    case 'token': {
      const lines: string[] = [...(settings.authTokens ?? [])];
      if (settings.authTokensFile) lines.push(readSecretFile(settings.authTokensFile, 'tokens'));
      if (lines.length === 0)
        throw new Error('--auth token needs --auth-tokens-file or RESUMABLE_AUTH_TOKENS');
      return bearerAuthorizer(parseTokenList(lines.join('\n')));
    }
    case 'signed': {
      const secret =
        settings.authSecret ??
        (settings.authSecretFile ? readSecretFile(settings.authSecretFile, 'secret') : undefined);
      if (!secret) throw new Error('--auth signed needs --auth-secret-file or RESUMABLE_AUTH_SECRET');
      return signedTokenAuthorizer(secret);
    }
  }
}
