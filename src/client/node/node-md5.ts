/** MD5 and SHA-256 from node:crypto (OpenSSL), behind the core's Md5 / Sha256 ports. */
import { createHash } from 'node:crypto';
import type { Md5, Sha256 } from '../core/ports.js';

function nodeDigest(algorithm: 'md5' | 'sha256'): Md5 {
  let h = createHash(algorithm);
  return {
    update: (data) => {
      h.update(data);
    },
    digest: () => {
      const hex = h.digest('hex');
      h = createHash(algorithm);
      return hex;
    },
  };
}

export function nodeMd5(): Md5 {
  return nodeDigest('md5');
}

/** The whole file's SHA-256 (declared in the handshake) and the answers to proof challenges. */
export function nodeSha256(): Sha256 {
  return nodeDigest('sha256');
}
