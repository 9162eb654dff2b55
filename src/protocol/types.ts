/** Shapes of the requests and answers of the upload API, shared by server, clients and page. */

/** The page of GET /api/upload/<fileId>?offset=&limit= (PROTOCOL.md §Bounds). */
export interface StatePage {
  offset: number;
  limit: number;
}

/** The default and largest `limit` of a state page: S3's list calls page at 1,000 too. */
export const STATE_PAGE_LIMIT = 1000;

/** `data` of GET /api/upload/<fileId> (extension). */
export interface UploadState {
  fileId: string;
  ext: string;
  /** 'uploading' while chunks are missing; 'complete' once published. */
  status: 'uploading' | 'complete';
  /** Each id list is the page [offset, offset + limit) of the whole list; `totals` counts them whole. */
  chunkIds: string[];
  held: string[];
  needed: string[];
  offset: number;
  limit: number;
  totals: { chunkIds: number; held: number; needed: number };
  bytesHeld: number;
  size: number | null;
  url: string | null;
}

export interface LibraryEntry {
  name: string;
  size: number;
  url: string;
  type: string;
  mtime: string;
}

export const INSTANT_UPLOAD_MSG = '秒传成功';

/**
 * The top-level `challenge` of a handshake answer under instantUpload 'proof' (PROTOCOL.md
 * §Instant upload): the file is published already, and a client that holds it gets the link by
 * answering POST /api/upload/proof with ProofAnswer.
 */
export interface ProofChallenge {
  /** Single use, expires in minutes. */
  nonce: string;
  /** Byte ranges [start, end] (inclusive, in file order) of the file; empty for an empty file. */
  ranges: [number, number][];
  /** proof = hex SHA-256 over the nonce's UTF-8 bytes followed by the bytes of every range in order. */
  algorithm: 'sha256';
}

/** The body of POST /api/upload/proof. */
export interface ProofAnswer {
  fileId: string;
  /** The SHA-256 the handshake declared, if it did (the same file key). */
  sha256?: string;
  ext: string;
  /** The file's size, as the handshake declared it: what access control checks a size against. */
  size?: number;
  nonce: string;
  proof: string;
}
