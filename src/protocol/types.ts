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
