/**
 * The route table: path → handlers by method. Each protocol (src/protocols/<name>/routes.ts) and
 * the server itself (src/server/routes/) contribute a table; the pipeline (pipeline.ts) runs the
 * handler this finds.
 *
 * Paths are exact or prefixes; a prefix hands its handler the rest of the path (`tail`). No
 * patterns: the byte routes answer tens of thousands of small ranges a second, and a lookup here
 * is one Map get plus a few startsWith. Written here rather than taken from a router package
 * because the pipeline needs what those do not say: which route a path belongs to whatever the
 * method (for CORS, forwarding and 405), and its flags.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthAction } from './auth/types.js';

export interface RouteMatch {
  /** The request target's path, as sent (not decoded). */
  path: string;
  /** For a prefix route, the path after the prefix; otherwise ''. */
  tail: string;
  /** The query string after '?', without it ('' when none). */
  search: string;
  /** CORS headers for a route with `cors: 'inline'` (empty otherwise). */
  corsHeaders: Record<string, string>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, match: RouteMatch) => Promise<void> | void;

/** Any method not listed elsewhere in `methods`. */
export const ANY_METHOD = '*';

export interface Route {
  /** An exact path, or with `prefix`, the start of the paths this route answers. */
  path: string;
  prefix?: boolean;
  /** Handlers by method ('GET', ..., or ANY_METHOD). A method with none: 405 METHOD_NOT_ALLOWED. */
  methods: Readonly<Record<string, Handler>>;
  /**
   * Readable cross-origin (PROTOCOL.md §Cross-origin): preflights are answered and the CORS
   * headers added ('set', with setHeader), or handed to the handler in `corsHeaders` ('inline',
   * for routes that write all their headers in one writeHead: see serve-bytes.ts).
   */
  cors?: 'set' | 'inline';
  /**
   * Served only by the process that holds the upload state; the others forward it there, whatever
   * the method (`serve --workers`, src/server/workers.ts).
   */
  ownerOnly?: boolean;
  /**
   * What each method does, for access control (auth/types.ts); a method without one is public
   * (the library, the page, health).
   */
  action?: Readonly<Record<string, AuthAction>>;
}

export class Router {
  private readonly exact = new Map<string, Route>();
  /** Longest first, so a route under another prefix wins over it. */
  private readonly prefixes: Route[] = [];

  constructor(tables: readonly (readonly Route[])[]) {
    for (const route of tables.flat()) {
      if (!route.prefix) {
        if (this.exact.has(route.path)) throw new Error(`two routes for ${route.path}`);
        this.exact.set(route.path, route);
      } else {
        if (this.prefixes.some((r) => r.path === route.path))
          throw new Error(`two routes for ${route.path}*`);
        this.prefixes.push(route);
      }
    }
    this.prefixes.sort((a, b) => b.path.length - a.path.length);
  }

  /** The route answering a path: an exact one first (whatever its methods), else a prefix. */
  find(path: string): Route | undefined {
    const exact = this.exact.get(path);
    if (exact) return exact;
    for (const route of this.prefixes) if (path.startsWith(route.path)) return route;
    return undefined;
  }
}

/**
 * The handler a route has for a method; undefined: 405 METHOD_NOT_ALLOWED. (node:http passes only
 * the upper-case methods it knows, none of them a property every object inherits.)
 */
export function handlerFor(route: Route, method: string): Handler | undefined {
  return route.methods[method] ?? route.methods[ANY_METHOD];
}
