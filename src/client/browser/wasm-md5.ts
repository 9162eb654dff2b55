/** MD5 and SHA-256 for browsers: hash-wasm (Web Crypto has no MD5, and no incremental SHA-256). */
import { createMD5, createSHA256, type IHasher } from 'hash-wasm';
import type { Md5, Sha256 } from '../core/ports.js';

function incremental(h: IHasher): Md5 {
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

export async function wasmMd5(): Promise<Md5> {
  return incremental(await createMD5());
}

export async function wasmSha256(): Promise<Sha256> {
  return incremental(await createSHA256());
}
