/**
 * The language switch, readable in any browser: it reads "EN / 中文" with the current language in
 * bold, and where no installed font has Chinese glyphs (a minimal Linux, say) — where 中文 would
 * be two empty boxes — it reads "EN / ZH". Its accessible name says what it does in words.
 */
import { currentLang, onLangChange, setLang, t } from './i18n.js';

/**
 * Whether `font` draws 中文 with real glyphs: drawn on a canvas, a glyph no font has comes out as
 * the same "missing" box as an unassigned code point (U+0378), so identical pixels mean no font.
 * Where the canvas cannot tell (no 2D context, pixels blocked), assume the font is there.
 */
export function hasCjkGlyphs(font: string): boolean {
  try {
    const canvas = document.createElement('canvas');
    canvas.width = 48;
    canvas.height = 24;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) return true;
    const draw = (text: string) => {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.font = font;
      ctx.textBaseline = 'top';
      ctx.fillText(text, 0, 2);
      return ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    };
    const chinese = draw('中文');
    const missing = draw('\u0378\u0378');
    return chinese.some((v, i) => v !== missing[i]);
  } catch {
    return true;
  }
}

export function setUpLangButton(button: HTMLButtonElement): void {
  const en = document.createElement('span');
  en.lang = 'en';
  en.dataset.lang = 'en';
  en.textContent = 'EN';
  const sep = document.createElement('span');
  sep.className = 'lang-sep';
  sep.setAttribute('aria-hidden', 'true');
  sep.textContent = ' / ';
  const zh = document.createElement('span');
  zh.dataset.lang = 'zh';
  const style = getComputedStyle(button);
  const cjk = hasCjkGlyphs(`16px ${style.fontFamily}`);
  button.dataset.cjk = String(cjk);
  if (cjk) {
    zh.lang = 'zh-CN';
    zh.textContent = '中文';
  } else {
    zh.lang = 'en';
    zh.textContent = 'ZH';
  }
  button.replaceChildren(en, sep, zh);
  const render = () => {
    const lang = currentLang();
    en.classList.toggle('current', lang === 'en');
    zh.classList.toggle('current', lang === 'zh');
    button.setAttribute('aria-label', t('switchLanguage'));
    button.title = t('switchLanguage');
  };
  button.addEventListener('click', () => setLang(currentLang() === 'zh' ? 'en' : 'zh'));
  onLangChange(render);
  render();
}
