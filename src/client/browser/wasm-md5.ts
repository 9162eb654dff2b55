/** MD5 for browsers: hash-wasm (Web Crypto has no MD5). */
import { createMD5 } from 'hash-wasm';
import type { Md5 } from '../core/ports.js';

export async function wasmMd5(): Promise<Md5> {
  const h = await createMD5();
  h.init();
  return {
    update: (data) => {
      h.update(data);
    },
    digest: () => {
      const hex = h.digest('hex');
      h.init();
      return hex;
    },
  };
}
