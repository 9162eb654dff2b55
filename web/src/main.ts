/** The page: an upload panel and a download panel, in Chinese or English. */
import { authHeaders } from './credentials.js';
import { DownloadPanel } from './download-panel.js';
import { applyStaticTexts, currentLang, onLangChange } from './i18n.js';
import { setUpLangButton } from './lang-button.js';
import { UploadPanel } from './upload-panel.js';

// First: the token leaves the visible URL before anything else runs.
authHeaders();

onLangChange(() => applyStaticTexts());
document.documentElement.lang = currentLang() === 'zh' ? 'zh-CN' : 'en';
applyStaticTexts();
setUpLangButton(document.querySelector<HTMLButtonElement>('#lang')!);

const uploads = new UploadPanel(document.querySelector('#upload')!);
const downloads = new DownloadPanel(document.querySelector('#download')!);
void Promise.all([uploads.init(), downloads.init()]).then(() => {
  document.body.dataset.ready = 'true';
});
