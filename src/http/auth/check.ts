/**
 * Running the hook for one request: the pipeline's auth step (before the handler, so a refused
 * request never has its body read or stored) and `authorizeAgain` once a body named the fileId.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TransferError } from '../../protocol/errors.js';
import { setPrincipal } from './principal.js';
import type { AuthAction, Authorize, Decision } from './types.js';

/** The challenge of every 401 (RFC 6750). */
export const WWW_AUTHENTICATE = 'Bearer realm="resumable-transfer"';

/** The hook each request was checked with, for the second check after its body. */
const checkedWith = new WeakMap<IncomingMessage, { authorize: Authorize; res: ServerResponse }>();

function normalize(decision: Decision | boolean): Decision {
  if (decision === true) return { allow: true };
  if (decision === false) return { allow: false, status: 403 };
  return decision;
}

/**
 * Asks the hook; a refusal throws UNAUTHORIZED (with WWW-Authenticate) or FORBIDDEN, an allow
 * records the principal. The hook's own message goes to the client: it must not echo a secret.
 */
export async function checkAccess(
  authorize: Authorize,
  req: IncomingMessage,
  res: ServerResponse,
  action: AuthAction,
  fileId: string | undefined,
  size: number | undefined,
  phase: 'headers' | 'body',
): Promise<void> {
  checkedWith.set(req, { authorize, res });
  const decision = normalize(await authorize({ action, fileId, size, phase, request: req }));
  if (decision.allow) {
    setPrincipal(req, decision.principal);
    return;
  }
  if (decision.status === 401) {
    if (!res.headersSent) res.setHeader('WWW-Authenticate', WWW_AUTHENTICATE);
    throw new TransferError('UNAUTHORIZED', decision.message);
  }
  throw new TransferError('FORBIDDEN', decision.message);
}

/** Whether the pipeline ran the hook for this request (a route with an action, access control on). */
export function wasChecked(req: IncomingMessage): boolean {
  return checkedWith.has(req);
}

/**
 * The second check, once the body named the fileId (and size): a no-op for a request the
 * pipeline did not check (no access control, or a route without an action).
 */
export async function authorizeAgain(
  req: IncomingMessage,
  action: AuthAction,
  fileId: unknown,
  size: unknown,
): Promise<void> {
  const checked = checkedWith.get(req);
  if (!checked) return;
  await checkAccess(
    checked.authorize,
    req,
    checked.res,
    action,
    typeof fileId === 'string' ? fileId : undefined,
    typeof size === 'number' && Number.isFinite(size) ? size : undefined,
    'body',
  );
}
