/** MD5 from node:crypto (OpenSSL), behind the core's Md5 port. */
import { createHash } from 'node:crypto';
import type { Md5 } from '../core/ports.js';

export function nodeMd5(): Md5 {
  let h = createHash('md5');
  return {
    update: (data) => {
      h.update(data);
    },
    digest: () => {
      const hex = h.digest('hex');
      h = createHash('md5');
      return hex;
    },
  };
}
