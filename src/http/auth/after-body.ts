/**
 * The second check, for the requests that name their fileId in the body (the handshake, the proof
 * of ownership that stands in for an upload, a deferred upload's handshake (no fileId: asked with
 * its size) and commit (its fileId), and multipart chunks, PROTOCOL.md): the route table
 * hands the seed handlers a view of the upload service whose `handshake`, `prove` (asked as a
 * handshake) and `receiveChunk` first ask the hook again with the parsed fileId and size
 * (check.ts `authorizeAgain`), so no handler has to remember to. Nothing is recorded before
 * that answer: a refused chunk's staged bytes are discarded.
 *
 * Only a request that passed the first check reaches its body, so an anonymous client never gets
 * a byte stored; what a valid credential for another file can cost is one chunk's staging.
 */
import type { IncomingMessage } from 'node:http';
import type { UploadService } from '../../core/upload-service.js';
import { fileIdOfKey } from '../../protocol/ids.js';
import { authorizeAgain, wasChecked } from './check.js';

export function checkedAfterBody(service: UploadService, req: IncomingMessage): UploadService {
  if (!wasChecked(req)) return service;
  return new Proxy(service, {
    get(target, prop) {
      if (prop === 'handshake') {
        const handshake: UploadService['handshake'] = async (raw, ...rest) => {
          await authorizeAgain(req, 'handshake', raw.fileId, raw.size);
          return target.handshake(raw, ...rest);
        };
        return handshake;
      }
      if (prop === 'prove') {
        const prove: UploadService['prove'] = async (raw, ...rest) => {
          await authorizeAgain(req, 'handshake', raw.fileId, raw.size);
          return target.prove(raw, ...rest);
        };
        return prove;
      }
      if (prop === 'openDeferred') {
        // No fileId yet: asked with the declared size; the commit is asked with its fileId.
        const openDeferred: UploadService['openDeferred'] = async (raw, ...rest) => {
          await authorizeAgain(req, 'handshake', undefined, raw.size);
          return target.openDeferred(raw, ...rest);
        };
        return openDeferred;
      }
      if (prop === 'commit') {
        const commit: UploadService['commit'] = async (raw, ...rest) => {
          await authorizeAgain(req, 'handshake', raw.fileId, undefined);
          return target.commit(raw, ...rest);
        };
        return commit;
      }
      if (prop === 'receiveChunk') {
        const receiveChunk: UploadService['receiveChunk'] = async (fileId, chunkId, staged, ...rest) => {
          try {
            // A SHA-keyed upload (<fileId>-<sha16>) is asked about by its fileId, as a token names it.
            await authorizeAgain(req, 'chunk', fileIdOfKey(fileId), staged.size);
          } catch (err: unknown) {
            await target.discard(staged).catch(() => undefined);
            throw err;
          }
          return target.receiveChunk(fileId, chunkId, staged, ...rest);
        };
        return receiveChunk;
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
