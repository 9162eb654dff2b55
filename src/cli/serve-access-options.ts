/** `resumable serve`'s options for access control, links and framing (docs/security.md). */
import { parseHttpUrl, parseList } from '../config/values.js';
import { CONFIG_DEFAULTS } from '../server/config-defaults.js';
import type { ServeOption } from './serve-options.js';

export const ACCESS_OPTIONS: readonly ServeOption[] = [
  {
    flags: '--auth <mode>',
    env: 'RESUMABLE_AUTH',
    description:
      'access control: none, token (bearer tokens: --auth-tokens-file) or signed (upload tokens: --auth-secret-file, `resumable token sign`)',
    key: 'auth',
    choices: ['none', 'token', 'signed'],
    default: CONFIG_DEFAULTS.auth,
  },
  {
    flags: '--auth-tokens-file <file>',
    env: 'RESUMABLE_AUTH_TOKENS_FILE',
    description: 'with --auth token: bearer tokens, one per line, optionally name:token',
    key: 'authTokensFile',
  },
  {
    flags: '--auth-tokens <list>',
    env: 'RESUMABLE_AUTH_TOKENS',
    description:
      'with --auth token: comma-separated tokens (prefer the environment variable: a flag shows in ps)',
    key: 'authTokens',
    parse: parseList,
  },
  {
    flags: '--auth-secret-file <file>',
    env: 'RESUMABLE_AUTH_SECRET_FILE',
    description: 'with --auth signed: the file holding the signing secret (at least 32 bytes)',
    key: 'authSecretFile',
  },
  {
    flags: '--auth-secret <secret>',
    env: 'RESUMABLE_AUTH_SECRET',
    description: 'with --auth signed: the signing secret (prefer the environment variable or the file)',
    key: 'authSecret',
  },
  {
    flags: '--instant-upload <policy>',
    env: 'RESUMABLE_INSTANT_UPLOAD',
    description:
      'instant upload (秒传) of a published file: open (to anyone naming its MD5), proof (to a client proving it holds the bytes) or off (default: open when --host is loopback, else proof)',
    key: 'instantUpload',
    choices: ['open', 'proof', 'off'],
  },
  {
    flags: '--allowed-hosts <hosts>',
    env: 'RESUMABLE_ALLOWED_HOSTS',
    description:
      'Host values links may be built from, comma-separated (name or name:port; default: loopback and the bound address)',
    key: 'allowedHosts',
    parse: parseList,
  },
  {
    flags: '--user-content-origin <url>',
    env: 'RESUMABLE_USER_CONTENT_ORIGIN',
    description:
      'origin of the /upload/ links: a separate host name for uploaded files, served by this server',
    key: 'userContentOrigin',
    parse: parseHttpUrl,
  },
  {
    flags: '--frame-ancestors <sources>',
    env: 'RESUMABLE_FRAME_ANCESTORS',
    description: 'who may frame the web page (CSP frame-ancestors)',
    key: 'frameAncestors',
    default: CONFIG_DEFAULTS.frameAncestors,
  },
];
