/**
 * The one error type of the project and its table of stable codes. The server turns a
 * TransferError into the envelope `{code, msg, data: null, error}`; the client turns an error
 * envelope back into a TransferError, so callers switch on `error.code` on both sides.
 * docs/errors.md is generated from this table (npm run docs:errors) and must match it.
 */

export interface ErrorSpec {
  status: number;
  zh: string;
  en: string;
  /** What a user or operator should do about it (docs only). */
  action: string;
  /** Seconds a client should wait before trying again, sent as `Retry-After`. */
  retryAfter?: number;
}

export const ERRORS = {
  MISSING_FILE_ID: {
    status: 403,
    zh: '请携带文件编号',
    en: 'Send the file id (fileId).',
    action: 'Send fileId, the MD5 of the whole file.',
  },
  MISSING_EXT: {
    status: 403,
    zh: '请携带文件后缀，例如 .mp4',
    en: 'Send the file extension (ext), for example .mp4.',
    action: 'Send ext.',
  },
  MISSING_CHUNK_IDS: {
    status: 403,
    zh: '请按顺序设置文件的分片编号数组',
    en: 'Send chunkIds: the array of chunk ids, in file order.',
    action: 'Send chunkIds as a non-empty array.',
  },
  MISSING_CHUNK_ID: {
    status: 403,
    zh: '请携带分片编号',
    en: 'Send the chunk id (chunkId).',
    action: 'Send chunkId with every chunk.',
  },
  MISSING_CHUNK_DATA: {
    status: 403,
    zh: '请携带分片文件',
    en: 'Send the chunk bytes in the "file" field.',
    action: 'Send the chunk as the multipart field "file" (or as a raw body).',
  },
  INVALID_FILE_ID: {
    status: 400,
    zh: '文件编号无效：应为 32 位十六进制的 MD5',
    en: 'Invalid fileId: it must be the MD5 of the file as 32 hex digits.',
    action: 'Compute the MD5 of the whole file and send it as 32 hex digits.',
  },
  INVALID_EXT: {
    status: 400,
    zh: '文件后缀无效：只能是点后 1–16 个字母或数字，例如 .mp4',
    en: 'Invalid ext: use a dot and 1–16 letters or digits, for example .mp4.',
    action: 'Send a plain extension such as .jpg; no slashes, dots or spaces inside.',
  },
  INVALID_CHUNK_ID: {
    status: 400,
    zh: '分片编号无效：应为 32 位十六进制的 MD5，后面可接最多 10 位数字序号',
    en: 'Invalid chunk id: it must be 32 hex digits (the MD5), optionally followed by up to 10 digits.',
    action: 'Send each chunk id as the chunk MD5 (optionally followed by its index).',
  },
  INVALID_FIELD: {
    status: 400,
    zh: '请求字段无效',
    en: 'A request field is invalid.',
    action: 'Check size, chunkSize and name against the protocol.',
  },
  MALFORMED_BODY: {
    status: 400,
    zh: '请求体格式错误或不完整',
    en: 'The request body is malformed or incomplete.',
    action: 'Send valid JSON, urlencoded or multipart data, and the whole body.',
  },
  MALFORMED_REQUEST: {
    status: 400,
    zh: '请求不是有效的 HTTP',
    en: 'The request is not valid HTTP.',
    action: 'Fix the client (request line, headers, chunked encoding).',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    zh: '请求头或 URL 太长',
    en: 'The request headers or URL are too large.',
    action: 'Send shorter headers and URLs (16 KiB in all).',
  },
  NOT_FOUND: {
    status: 404,
    zh: '没有这个地址',
    en: 'No such resource.',
    action: 'Check the URL.',
  },
  UPLOAD_NOT_FOUND: {
    status: 404,
    zh: '没有这个文件的上传记录，请先握手',
    en: 'No upload is in progress for this fileId: start with a handshake.',
    action: 'POST /api/upload/handshake first (the upload may also have expired).',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    zh: '不支持这个请求方法',
    en: 'Method not allowed on this resource.',
    action: 'See the Allow header.',
  },
  CHUNK_NOT_IN_PLAN: {
    status: 409,
    zh: '这个分片不在本文件的分片列表中',
    en: 'This chunk id is not in the chunk list of the last handshake.',
    action: 'Send only chunk ids listed in the handshake, or handshake again.',
  },
  CHUNK_TOO_LARGE: {
    status: 413,
    zh: '分片太大，超过服务器限制或声明的分片大小',
    en: 'The chunk is larger than the server limit or the declared chunk size.',
    action: 'Use smaller chunks (see the server max chunk size).',
  },
  TOO_MANY_CHUNKS: {
    status: 413,
    zh: '分片数量超过服务器限制',
    en: 'Too many chunks for this server.',
    action: 'Use larger chunks so the count stays under the limit.',
  },
  BODY_TOO_LARGE: {
    status: 413,
    zh: '请求体太大',
    en: 'The request body is too large.',
    action: 'Send a smaller request.',
  },
  BODY_TOO_SLOW: {
    status: 408,
    zh: '请求体传输太慢，连接已关闭，请重试',
    en: 'The request body arrived too slowly; the connection was closed. Try again.',
    action:
      'Retry (clients do). Operators: --min-body-rate, --body-rate-window, --min-body-average-rate and --body-rate-grace set the bar.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    zh: '不支持的 Content-Type',
    en: 'Unsupported Content-Type.',
    action:
      'Use application/json, application/x-www-form-urlencoded, multipart/form-data or application/octet-stream.',
  },
  CHUNK_MD5_MISMATCH: {
    status: 422,
    zh: '分片内容与分片编号的 MD5 不符，未保存',
    en: 'The chunk bytes do not match the MD5 in its id; nothing was stored.',
    action: 'Re-read the chunk and send it again; the data was corrupted on the way.',
  },
  CHUNK_CHECKSUM_MISMATCH: {
    status: 422,
    zh: '分片内容与声明的校验值不符，未保存',
    en: 'The chunk bytes do not match their checksum; nothing was stored.',
    action: 'Send the chunk again (our clients retry it): it was corrupted on the way.',
  },
  FILE_MD5_MISMATCH: {
    status: 422,
    zh: '合并后的文件 MD5 与文件编号不符，未发布',
    en: 'The assembled file does not match fileId; nothing was published.',
    action: 'Check that fileId is the MD5 of the whole file and that the chunk list is in file order.',
  },
  SIZE_MISMATCH: {
    status: 422,
    zh: '合并后的文件大小与声明的大小不符，未发布',
    en: 'The assembled file size differs from the declared size; nothing was published.',
    action: 'Send the right size in the handshake.',
  },
  INTERNAL: {
    status: 500,
    zh: '服务器内部错误',
    en: 'Internal server error.',
    action: 'Retry; if it persists, see the server log.',
  },
  SHUTTING_DOWN: {
    status: 503,
    zh: '服务器正在关闭，请稍后重试',
    en: 'The server is shutting down; retry shortly.',
    action: 'Retry (clients do this automatically).',
  },
  UPLOADS_UNAVAILABLE: {
    status: 503,
    zh: '上传服务正在重启，请稍后重试',
    en: 'The process that handles uploads is restarting; retry shortly.',
    action: 'Retry (clients do this automatically). Operator: see the log of the uploads worker (--workers).',
  },
  INSUFFICIENT_STORAGE: {
    status: 507,
    zh: '服务器磁盘空间不足，请稍后重试',
    en: 'The server is out of storage space; retry later.',
    action: 'Operator: free space. Clients: retry later; held chunks are kept.',
  },
  // Client-side codes (never sent by the server).
  NETWORK: {
    status: 0,
    zh: '网络错误',
    en: 'Network error.',
    action: 'Check the connection; the client retries with backoff.',
  },
  ABORTED: {
    status: 0,
    zh: '已取消',
    en: 'Aborted.',
    action: 'Call again to resume.',
  },
  BAD_RESPONSE: {
    status: 0,
    zh: '服务器的回答不符合协议',
    en: 'The server answered something the protocol does not allow.',
    action: 'Check the server URL; it may not be a resumable-transfer server.',
  },
  REMOTE_CHANGED: {
    status: 0,
    zh: '服务器上的文件已变化',
    en: 'The file changed on the server during the download.',
    action: 'Nothing: the download restarts from zero by itself.',
  },
  RETRIES_EXHAUSTED: {
    status: 0,
    zh: '多次重试后仍然失败',
    en: 'Still failing after all retries.',
    action: 'Run the same command again later: it resumes.',
  },
  LOCAL_IO: {
    status: 0,
    zh: '读写本地文件失败',
    en: 'Reading or writing a local file failed.',
    action: 'Check the path, permissions and free space.',
  },
  // Server-side again (added after the client-side codes: the table only grows at its end).
  STORAGE_UNAVAILABLE: {
    status: 503,
    zh: '存储服务暂时无响应，请稍后重试',
    en: 'The storage service is not answering; retry shortly.',
    action:
      'Retry after the Retry-After seconds (clients do). Operator: check the object store; the server recovers by itself once it answers.',
    retryAfter: 5,
  },
  TOO_MANY_UPLOADS: {
    status: 429,
    zh: '未完成的上传太多，请先完成或放弃一些上传后再试',
    en: 'Too many incomplete uploads (from you or in all); finish or abandon some, then retry.',
    action:
      'Finish or DELETE incomplete uploads, or wait for them to expire. Operator: --max-open-uploads, --max-uploads-per-client.',
    retryAfter: 60,
  },
  SERVER_BUSY: {
    status: 503,
    zh: '服务器繁忙（打开的文件太多），请稍后重试',
    en: 'The server is busy (too many open files); retry shortly.',
    action: 'Retry (clients do). Operator: raise the open-file limit (ulimit -n) or lower the upload caps.',
    retryAfter: 5,
  },
  CHUNK_SUPERSEDED: {
    status: 503,
    zh: '该分片已由另一个请求完整送达，文件正在合并；请重试以获取结果',
    en: 'Another request delivered this chunk in full first and the file is being assembled; retry for the answer.',
    action:
      'Retry (clients do): the answer then has the file link. Seen when two copies of one chunk were in flight and this one was slow.',
    retryAfter: 1,
  },
  FILE_TOO_LARGE: {
    status: 413,
    zh: '文件太大，超过服务器允许的最大文件大小',
    en: 'The file is larger than this server accepts.',
    action: 'Upload a smaller file. Operator: --max-file-size.',
  },
  QUOTA_EXCEEDED: {
    status: 507,
    zh: '未完成上传占用的空间已达上限，请先完成或放弃一些上传',
    en: 'The space for incomplete uploads (yours or in all) is used up; finish or abandon some uploads.',
    action:
      'Finish or DELETE incomplete uploads, or wait for them to expire. Operator: --max-incomplete-bytes-per-client, --max-incomplete-bytes.',
    retryAfter: 60,
  },
  TOO_MANY_CONNECTIONS: {
    status: 429,
    zh: '来自您地址的连接过多，请稍后重试',
    en: 'Too many connections from your address; retry shortly.',
    action:
      'Retry after the Retry-After seconds (clients do) and use fewer parallel connections. Operator: --max-connections-per-client; behind a proxy, --trust-proxy.',
    retryAfter: 2,
  },
  UNAUTHORIZED: {
    status: 401,
    zh: '需要有效的凭据（令牌缺失、无效或已过期）',
    en: 'Valid credentials are needed: the token is missing, invalid or expired.',
    action:
      'Send `Authorization: Bearer <token>` (CLI: --token or RESUMABLE_TOKEN; page: ?token=). Ask the operator or the application for a new token if it expired. Never retried.',
  },
  FORBIDDEN: {
    status: 403,
    zh: '无权进行此操作（凭据不允许此请求，或上传属于另一个请求者）',
    en: 'You are not allowed to do this: the credentials do not allow this request, or the upload belongs to another requester.',
    action:
      "Use a token issued for this file and size (a signed upload token names its fileId and max size), or the credentials (or address) of the upload's owner; ask the operator for access. Never retried.",
  },
  OFFSET_MISMATCH: {
    status: 409,
    zh: 'Upload-Offset 与服务器上的上传进度不符，请先查询进度（HEAD）再续传',
    en: 'Upload-Offset does not match the offset of the upload; ask for it (HEAD) and resume from there.',
    action: 'Send HEAD to the upload URL and resume from its Upload-Offset (tus and IETF clients do).',
  },
  UPLOAD_BUSY: {
    status: 409,
    zh: '另一个请求正在写入这个上传，请稍后重试',
    en: 'Another request is writing to this upload; retry shortly.',
    action: 'Retry after a moment (one PATCH per upload at a time); resume from the HEAD offset.',
    retryAfter: 1,
  },
  CHECKSUM_MISMATCH: {
    status: 460,
    zh: '数据与 Upload-Checksum 不符，未保存',
    en: 'The bytes do not match Upload-Checksum; nothing was appended.',
    action: 'Send the same bytes again; they were corrupted on the way.',
  },
  UNSUPPORTED_CHECKSUM: {
    status: 400,
    zh: '不支持的校验算法（支持 md5、sha1、sha256）',
    en: 'Unsupported checksum algorithm (md5, sha1 and sha256 are).',
    action: 'Use one of the algorithms in Tus-Checksum-Algorithm.',
  },
  UNSUPPORTED_VERSION: {
    status: 412,
    zh: '不支持这个协议版本',
    en: 'This protocol version is not supported.',
    action:
      'Send Tus-Resumable: 1.0.0 (see Tus-Version), or an Upload-Draft-Interop-Version of 3, 5, 6 or 8.',
  },
  INVALID_HEADER: {
    status: 400,
    zh: '请求头无效',
    en: 'A request header is missing or invalid.',
    action: 'Check the header named in the message against the tus or IETF resumable-upload spec.',
  },
  UPLOAD_GONE: {
    status: 410,
    zh: '这个上传已过期或已被删除',
    en: 'This upload expired or was terminated.',
    action: 'Create a new upload.',
  },
  UPLOAD_LENGTH_EXCEEDED: {
    status: 413,
    zh: '数据超出了上传声明的长度',
    en: 'The bytes go beyond the declared length of the upload.',
    action: 'Send at most Upload-Length minus Upload-Offset bytes.',
  },
  LENGTH_MISMATCH: {
    status: 400,
    zh: '上传长度与之前声明的不一致',
    en: 'The upload length is inconsistent with what was declared before.',
    action: 'Keep the length declared at creation (or the first one sent for a deferred length).',
  },
  UPLOAD_COMPLETED: {
    status: 400,
    zh: '这个上传已经完成，不能再追加数据',
    en: 'This upload is already complete; nothing can be appended.',
    action: 'Nothing to do: the file is uploaded.',
  },
  FINAL_UPLOAD_READ_ONLY: {
    status: 403,
    zh: '拼接而成的最终上传不能追加数据',
    en: 'A final (concatenated) upload cannot be appended to.',
    action: 'PATCH the partial uploads, then create the final upload from them.',
  },
  PARTIAL_UPLOAD_INCOMPLETE: {
    status: 400,
    zh: '拼接的分段上传尚未完成或不存在',
    en: 'A partial upload named in Upload-Concat is not complete, not partial, or does not exist.',
    action: 'Finish every partial upload before creating the final upload.',
  },
  MD5_COLLISION: {
    status: 409,
    zh: '服务器上已有相同 MD5 但内容不同的文件，未发布',
    en: 'A different file with the same MD5 is already published; these bytes were not published.',
    action: 'Report it: two different files share an MD5 (a collision was crafted).',
  },
  PROOF_FAILED: {
    status: 403,
    zh: '文件持有证明无效或已过期，请直接上传文件',
    en: 'The proof of holding the file is wrong, used or expired; upload the file instead.',
    action:
      'Upload the chunks the handshake listed (the server publishes once the bytes match), or handshake again for a new challenge.',
  },
  FILE_SHA256_MISMATCH: {
    status: 422,
    zh: '合并后的文件 SHA-256 与声明的不一致，未发布',
    en: "The assembled file's SHA-256 differs from the one the handshake declared; nothing was published.",
    action: 'Hash the file again (it may have changed) and upload it afresh; the upload was dropped.',
  },
  CHUNKS_MISSING: {
    status: 409,
    zh: '还有分片未上传，不能提交',
    en: 'Some chunks of this upload are still missing; nothing was published.',
    action: 'Send the missing chunks (GET /api/upload/<uploadId> lists them), then commit again.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

export type Lang = 'zh' | 'en';

export class TransferError extends Error {
  readonly code: ErrorCode;
  /** HTTP status (0 for client-side errors that never crossed the wire). */
  readonly status: number;
  /** Seconds before a retry makes sense (the `Retry-After` header), if the code says. */
  readonly retryAfter: number | undefined;

  /** `retryAfter`: the seconds a server asked for (its `Retry-After`), over the code's default. */
  constructor(
    code: ErrorCode,
    message?: string,
    options?: { cause?: unknown; status?: number; retryAfter?: number | undefined },
  ) {
    super(message ?? ERRORS[code].en, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransferError';
    this.code = code;
    this.status = options?.status ?? ERRORS[code].status;
    this.retryAfter = options?.retryAfter ?? (ERRORS[code] as ErrorSpec).retryAfter;
  }

  /** The message for a language; a custom message is English and is kept for 'en' only. */
  localized(lang: Lang): string {
    return lang === 'zh' ? ERRORS[this.code].zh : this.message;
  }

  /** Whether a client should try the same request again later. */
  get retryable(): boolean {
    // A chunk that failed its checksum was corrupted on the way (§Chunk checksums): send it again.
    if (this.code === 'NETWORK' || this.code === 'REMOTE_CHANGED' || this.code === 'CHUNK_CHECKSUM_MISMATCH')
      return true;
    return this.status >= 500 || this.status === 408 || this.status === 429;
  }
}
