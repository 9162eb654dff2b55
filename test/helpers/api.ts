/** Thin wrappers over fetch for the upload API, used by the end-to-end tests. */
export interface Answer {
  status: number;
  body: { code: number; msg: string; data: unknown; error?: string; url?: string };
  headers: Headers;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: Answer['body'];
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, body, headers: res.headers };
}

export async function handshake(
  base: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return answer(
    await fetch(`${base}/api/upload/handshake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    }),
  );
}

/** Sends a chunk as the course client does: FormData with `file` first, then chunkId, fileId. */
export async function sendChunk(
  base: string,
  fields: { fileId?: string; chunkId?: string; file?: Uint8Array },
  order: ('file' | 'chunkId' | 'fileId')[] = ['file', 'chunkId', 'fileId'],
  headers: Record<string, string> = {},
): Promise<Answer> {
  const form = new FormData();
  for (const key of order) {
    if (key === 'file' && fields.file)
      form.append('file', new Blob([fields.file as Uint8Array<ArrayBuffer>]), 'blob');
    else if (key !== 'file' && fields[key] !== undefined) form.append(key, fields[key]);
  }
  return answer(await fetch(`${base}/api/upload`, { method: 'POST', body: form, headers }));
}

export async function sendRawChunk(
  base: string,
  fileId: string,
  chunkId: string,
  data: Uint8Array,
): Promise<Answer> {
  return answer(
    await fetch(`${base}/api/upload?fileId=${fileId}&chunkId=${chunkId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: data as Uint8Array<ArrayBuffer>,
    }),
  );
}

export async function getJson(url: string, init?: RequestInit): Promise<Answer> {
  return answer(await fetch(url, init));
}
