/**
 * What the auth step knows of a request before reading its body: the fileId from the path
 * (status, delete, download of an upload) or the query (raw chunks), and the bytes a chunk says
 * it carries (Content-Length). The handshake and multipart chunks name their fileId in the body:
 * undefined here, checked again once parsed (after-body.ts).
 */
import type { IncomingMessage } from 'node:http';
import { fileIdOfKey, parseUploadName } from '../../protocol/ids.js';
import type { AuthAction } from './types.js';

function decoded(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

export function fileIdBeforeBody(
  action: AuthAction,
  req: IncomingMessage,
  tail: string,
  search: string,
): string | undefined {
  switch (action) {
    case 'status':
    case 'delete':
      return tail ? decoded(tail) : undefined;
    case 'download-upload': {
      // <fileId><ext>, <fileId>-<sha16><ext> (an MD5 twin) or <fileId>-<sha32><ext> (a capability
      // link): the fileId is the MD5 in every form.
      const name = decoded(tail);
      const parsed = name === undefined ? undefined : parseUploadName(name);
      if (parsed) return parsed.fileId;
      const dot = tail.indexOf('.');
      const id = decoded(dot < 0 ? tail : tail.slice(0, dot));
      return id === undefined ? undefined : (fileIdOfKey(id) as string);
    }
    case 'chunk': {
      const type = (req.headers['content-type'] ?? '').toLowerCase();
      if (!type.startsWith('application/octet-stream')) return undefined;
      return new URLSearchParams(search).get('fileId') ?? undefined;
    }
    default:
      return undefined;
  }
}

export function sizeBeforeBody(action: AuthAction, req: IncomingMessage): number | undefined {
  if (action !== 'chunk') return undefined;
  const length = Number(req.headers['content-length']);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}
