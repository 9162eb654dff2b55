/** Shapes of the requests and answers of the upload API, shared by server, clients and page. */

/** `data` of GET /api/upload/<fileId> (extension). */
export interface UploadState {
  fileId: string;
  ext: string;
  /** 'uploading' while chunks are missing; 'complete' once published. */
  status: 'uploading' | 'complete';
  chunkIds: string[];
  held: string[];
  needed: string[];
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
