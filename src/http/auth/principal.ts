/**
 * Who a request was allowed as: set by the auth step (check.ts), read by whoever records owners
 * (`principalOf(req)`). Kept beside the request rather than on it: nothing else can forge it.
 */
import type { IncomingMessage } from 'node:http';

const principals = new WeakMap<IncomingMessage, string>();

export function setPrincipal(req: IncomingMessage, principal: string | undefined): void {
  if (principal === undefined) principals.delete(req);
  else principals.set(req, principal);
}

/** The principal the request was authorised as; undefined: anonymous (or no access control). */
export function principalOf(req: IncomingMessage): string | undefined {
  return principals.get(req);
}
