/** The page: an upload panel and a download panel, in Chinese or English. */
import { authHeaders } from './credentials.js';
import { DownloadPanel } from './download-panel.js';
import { applyStaticTexts, currentLang, onLangChange, setLang, t } from './i18n.js';
import { UploadPanel } from './upload-panel.js';

// First: the token leaves the visible URL before anything else runs.
authHeaders();

const langButton = document.querySelector<HTMLButtonElement>('#lang')!;
const renderLangButton = () => {
  langButton.textContent = t('language');
  langButton.lang = currentLang() === 'zh' ? 'en' : 'zh-CN';
};
langButton.addEventListener('click', () => setLang(currentLang() === 'zh' ? 'en' : 'zh'));
onLangChange(() => {
  applyStaticTexts();
  renderLangButton();
});
document.documentElement.lang = currentLang() === 'zh' ? 'zh-CN' : 'en';
applyStaticTexts();
renderLangButton();

new UploadPanel(document.querySelector('#upload')!);
const downloads = new DownloadPanel(document.querySelector('#download')!);
void downloads.init().then(() => {
  document.body.dataset.ready = 'true';
});
