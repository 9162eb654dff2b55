/**
 * A library card's picture: the image itself for images; for any other file (or an image that
 * does not load) an icon of a page with the file's extension on it, coloured by kind, instead of
 * an empty grey box.
 */
import type { LibraryEntry } from '../../src/protocol/types.js';

export type FileKind = 'video' | 'audio' | 'archive' | 'text' | 'document' | 'image' | 'other';

const ARCHIVES = new Set(['zip', 'gz', 'tgz', 'tar', '7z', 'rar', 'bz2', 'xz', 'zst', 'iso', 'dmg']);
const DOCUMENTS = new Set(['pdf', 'doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'odt', 'ods', 'odp', 'epub']);
const TEXTS = new Set(['txt', 'md', 'csv', 'json', 'xml', 'yaml', 'yml', 'log', 'html', 'css', 'js', 'ts']);

/** The extension shown on the icon: upper case, at most 5 characters; '' when the name has none. */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return '';
  return name
    .slice(dot + 1)
    .toUpperCase()
    .slice(0, 5);
}

export function kindOf(name: string, type: string | undefined): FileKind {
  const ext = extensionOf(name).toLowerCase();
  const t = (type ?? '').toLowerCase();
  if (t.startsWith('video/')) return 'video';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('image/')) return 'image';
  if (ARCHIVES.has(ext)) return 'archive';
  if (DOCUMENTS.has(ext)) return 'document';
  if (t.startsWith('text/') || TEXTS.has(ext)) return 'text';
  return 'other';
}

/** The icon for a file: `noExtension` is the label for a name without one. */
export function fileIcon(name: string, type: string | undefined, noExtension: string): HTMLElement {
  const icon = document.createElement('span');
  icon.className = 'file-icon';
  icon.dataset.kind = kindOf(name, type);
  icon.setAttribute('aria-hidden', 'true');
  const label = document.createElement('span');
  label.className = 'file-ext';
  label.textContent = extensionOf(name) || noExtension;
  icon.append(label);
  return icon;
}

/** Fills a card's .thumb: the image, falling back to the icon if it cannot be shown. */
export function fillThumb(thumb: HTMLElement, entry: LibraryEntry, noExtension: string): void {
  const showIcon = () => {
    thumb.dataset.thumb = 'icon';
    thumb.replaceChildren(fileIcon(entry.name, entry.type, noExtension));
  };
  if (!(entry.type ?? '').startsWith('image/')) {
    showIcon();
    return;
  }
  const img = document.createElement('img');
  img.src = entry.url;
  img.alt = entry.name;
  img.loading = 'lazy';
  img.decoding = 'async';
  img.addEventListener('error', showIcon, { once: true });
  thumb.dataset.thumb = 'image';
  thumb.replaceChildren(img);
}
