/**
 * What the Node client says about itself on every request: `Accept-Language` from the locale
 * (the server answers its error messages in it) and `User-Agent: resumable-transfer/<v> node/<v>`.
 * A browser sends both by itself (and forbids setting User-Agent), so this is the Node entry's.
 */
import { readFileSync } from 'node:fs';

/**
 * The POSIX locale of messages as a BCP 47 tag: LC_ALL, else LC_MESSAGES, else LANG (the first
 * one set wins, as in setlocale); `C`/`POSIX` read as English; none set: Intl's locale.
 * `zh_CN.UTF-8` → `zh-CN`, `en_US.UTF-8@euro` → `en-US`.
 */
export function localeTag(env: NodeJS.ProcessEnv = process.env): string {
  const posix = env.LC_ALL || env.LC_MESSAGES || env.LANG;
  if (posix) {
    const base = posix.split(/[.@]/)[0] ?? '';
    if (base === 'C' || base === 'POSIX') return 'en';
    const [lang, region] = base.split('_');
    if (lang && /^[a-z]{2,3}$/i.test(lang))
      return region && /^[a-z0-9]{2,3}$/i.test(region)
        ? `${lang.toLowerCase()}-${region.toUpperCase()}`
        : lang.toLowerCase();
  }
  return Intl.DateTimeFormat().resolvedOptions().locale || 'en';
}

/** `zh-CN` → `zh-CN, zh;q=0.9`: the region first, then the language alone. */
export function acceptLanguage(tag: string): string {
  const lang = tag.split('-')[0] ?? tag;
  return lang === tag ? tag : `${tag}, ${lang};q=0.9`;
}

let version: string | undefined;
/** This package's version (package.json three folders up, in src/ and in dist/ alike). */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      const url = new URL('../../../package.json', import.meta.url);
      version = (JSON.parse(readFileSync(url, 'utf8')) as { version?: string }).version ?? '0.0.0';
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}

export function userAgent(): string {
  return `resumable-transfer/${packageVersion()} node/${process.versions.node}`;
}

/**
 * The transport with `Accept-Language` and `User-Agent` on every request that does not set them
 * itself (the caller's `headers` win). Beneath the credentials, so a redirect to another origin
 * keeps them while the credentials are dropped.
 */
export function withIdentity(fetchImpl: typeof fetch, env: NodeJS.ProcessEnv = process.env): typeof fetch {
  const identity = { 'accept-language': acceptLanguage(localeTag(env)), 'user-agent': userAgent() };
  return ((input: string | URL | Request, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(identity)) if (!headers.has(name)) headers.set(name, value);
    return fetchImpl(input, { ...init, headers });
  }) as typeof fetch;
}
