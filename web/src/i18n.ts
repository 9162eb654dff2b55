/** Chinese and English: the browser's language by default, a switch that is remembered. */
import { ERRORS, type Lang, TransferError } from '../../src/protocol/errors.js';

const en = {
  title: 'Resumable transfer',
  tagline: 'Uploads and downloads that survive pauses, failures and reloads.',
  uploadHeading: 'Upload',
  dropHint: 'Drop files or a folder here',
  choose: 'Choose files',
  or: 'or',
  overall: '{done} of {total} files · {bytes} of {size}',
  overallOne: '{done} of 1 file · {bytes} of {size}',
  downloadHeading: 'Download',
  libraryEmpty: 'No files to download.',
  libraryError: 'Cannot list the files: {msg}',
  download: 'Download',
  save: 'Save',
  hashing: 'Checking file {pct}',
  uploading: 'Uploading {pct} · {speed} · {eta} left',
  uploadingNoEta: 'Uploading {pct}',
  downloading: 'Downloading {pct} · {speed} · {eta} left',
  downloadingNoEta: 'Downloading {pct}',
  stalled: 'Waiting for the server… {pct} · no progress for {time}',
  waiting: 'Waiting…',
  paused: 'Paused at {pct}',
  done: 'Uploaded',
  instant: 'Instant upload: already on the server',
  downloaded: 'Downloaded and saved',
  ready: 'Downloaded — ready to save',
  restarted: 'The file changed on the server; started over',
  resumedFrom: 'Continued from {bytes}',
  error: 'Failed: {msg}',
  pause: 'Pause',
  resume: 'Resume',
  cancel: 'Cancel',
  retry: 'Retry',
  copy: 'Copy link',
  copied: 'Copied',
  open: 'Open',
  remove: 'Remove',
  memoryFallback:
    'This browser has no private file storage: downloads are kept in memory (up to 512 MB) and do not survive a reload.',
  switchLanguage: 'Language: English. Switch to Chinese (中文)',
  historyHeading: 'Upload history',
  clearHistory: 'Clear history',
  historyNote: 'The links of this visit’s uploads are kept here for your next visit.',
  uploadedAt: 'Uploaded {when}',
  noExtension: 'FILE',
  unknownEta: '—',
} as const;

type Key = keyof typeof en;

const zh: Record<Key, string> = {
  title: '断点续传',
  tagline: '上传和下载可以暂停、出错重试、刷新页面后继续。',
  uploadHeading: '上传',
  dropHint: '把文件或文件夹拖到这里',
  choose: '选择文件',
  or: '或',
  overall: '{done} / {total} 个文件 · {bytes} / {size}',
  overallOne: '{done} / 1 个文件 · {bytes} / {size}',
  downloadHeading: '下载',
  libraryEmpty: '没有可下载的文件。',
  libraryError: '无法列出文件：{msg}',
  download: '下载',
  save: '保存',
  hashing: '正在校验文件 {pct}',
  uploading: '正在上传 {pct} · {speed} · 剩余 {eta}',
  uploadingNoEta: '正在上传 {pct}',
  downloading: '正在下载 {pct} · {speed} · 剩余 {eta}',
  downloadingNoEta: '正在下载 {pct}',
  stalled: '等待服务器响应… {pct} · 已 {time} 没有进展',
  waiting: '等待中…',
  paused: '已暂停，完成 {pct}',
  done: '上传完成',
  instant: '秒传 — 服务器已有这个文件',
  downloaded: '下载完成，已保存',
  ready: '下载完成，可以保存',
  restarted: '服务器上的文件已变化，已重新开始',
  resumedFrom: '从 {bytes} 处继续',
  error: '失败：{msg}',
  pause: '暂停',
  resume: '继续',
  cancel: '取消',
  retry: '重试',
  copy: '复制链接',
  copied: '已复制',
  open: '打开',
  remove: '移除',
  memoryFallback: '此浏览器没有私有文件存储：下载保存在内存中（最多 512 MB），刷新页面后无法继续。',
  switchLanguage: '语言：中文。切换到英文 (English)',
  historyHeading: '上传记录',
  clearHistory: '清除记录',
  historyNote: '本次上传的链接会保留在这里，下次访问时仍可使用。',
  uploadedAt: '{when} 上传',
  noExtension: '文件',
  unknownEta: '—',
};

const STORAGE_KEY = 'resumable-transfer.lang';

function initialLang(): Lang {
  const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
  if (saved === 'zh' || saved === 'en') return saved;
  return (navigator.languages?.[0] ?? navigator.language ?? 'en').toLowerCase().startsWith('zh')
    ? 'zh'
    : 'en';
}

let lang: Lang = initialLang();
const listeners = new Set<() => void>();

export function currentLang(): Lang {
  return lang;
}

export function setLang(next: Lang): void {
  lang = next;
  localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  for (const fn of listeners) fn();
}

export function onLangChange(fn: () => void): void {
  listeners.add(fn);
}

export function t(key: Key, params: Record<string, string | number> = {}): string {
  const text = (lang === 'zh' ? zh : en)[key];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? ''));
}

/** A moment (ms since the epoch) as a date and time in the page's language. */
export function when(at: number): string {
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en', {
    dateStyle: 'medium',
    timeStyle: 'short',
  }).format(at);
}

/** The server's message for its stable code, in the page's language; client-side details kept. */
export function errorText(err: unknown): string {
  if (err instanceof TransferError) {
    const spec = ERRORS[err.code];
    const base = lang === 'zh' ? spec.zh : spec.en;
    // Client-side errors (status 0) carry a specific English detail worth showing.
    return err.status === 0 && err.message !== spec.en ? `${base} (${err.message})` : base;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Fills every element with data-i18n="key". */
export function applyStaticTexts(root: ParentNode = document): void {
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n as Key);
  }
  document.title = t('title');
}
