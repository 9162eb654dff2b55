/**
 * Access control: the hook a server is given (`startServer(config, { authorize })`) and what it
 * answers. The pipeline (../pipeline.ts) asks it before a request's handler runs; for requests
 * whose fileId is in the body (the handshake, multipart chunks) it is asked once before the body
 * with `fileId` undefined and again once the body named it (`authorizeAgain`, guard.ts).
 */
import type { IncomingMessage } from 'node:http';

/** What a request would do; routes without an action (the library under /download/, the page, health) are public. */
export type AuthAction = 'handshake' | 'chunk' | 'status' | 'delete' | 'download-upload' | 'list';

export interface AuthRequest {
  action: AuthAction;
  /**
   * The upload the request is about: from the path (status, delete, download-upload), the query
   * (raw chunks), or the body (handshake, multipart chunks: undefined on the first call, set on
   * the second). Not yet validated: compare it, never use it as a path.
   */
  fileId: string | undefined;
  /**
   * Bytes the request would store: the handshake's declared size (second call), a chunk's
   * Content-Length before its body and its byte count after. Undefined when not known.
   */
  size: number | undefined;
  /** 'headers': before the body is read; 'body': after the body named the fileId. */
  phase: 'headers' | 'body';
  request: IncomingMessage;
}

/** Allowed (optionally as a principal, who becomes the upload's owner), or refused with 401 / 403. */
export type Decision =
  | { allow: true; principal?: string | undefined }
  | { allow: false; status: 401 | 403; message?: string | undefined };

/** `true` is an anonymous allow, `false` a 403. */
export type Authorize = (request: AuthRequest) => Decision | boolean | Promise<Decision | boolean>;

export const allow = (principal?: string): Decision => ({ allow: true, principal });
/** No credentials, or credentials that are not valid (bad signature, expired, unknown token). */
export const unauthorized = (message?: string): Decision => ({ allow: false, status: 401, message });
/** Valid credentials that do not allow this request (another fileId, over the size). */
export const forbidden = (message?: string): Decision => ({ allow: false, status: 403, message });
