/**
 * One transfer as a list row: name, size, a status line, a progress bar and its buttons. The
 * layout has fixed heights and tabular numbers, so progress updates never move anything.
 */
import { size } from './format.js';

export interface Action {
  label: string;
  onClick: () => void;
  primary?: boolean;
  name: string;
}

export class Row {
  readonly el: HTMLLIElement;
  private readonly status: HTMLSpanElement;
  private readonly fill: HTMLDivElement;
  private readonly actions: HTMLDivElement;
  private readonly link: HTMLAnchorElement;
  private readonly sizeEl: HTMLSpanElement;

  constructor(name: string, bytes: number) {
    this.el = document.createElement('li');
    this.el.className = 'row';
    this.el.innerHTML = `
      <div class="row-head">
        <span class="row-name"></span>
        <span class="row-size"></span>
      </div>
      <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"><div class="fill"></div></div>
      <div class="row-foot">
        <span class="row-status" aria-live="polite"></span>
        <a class="row-link" target="_blank" rel="noopener" hidden></a>
        <div class="row-actions"></div>
      </div>`;
    this.el.querySelector('.row-name')!.textContent = name;
    (this.el.querySelector('.row-name') as HTMLElement).title = name;
    this.sizeEl = this.el.querySelector('.row-size')!;
    this.sizeEl.textContent = size(bytes);
    this.status = this.el.querySelector('.row-status')!;
    this.fill = this.el.querySelector('.fill')!;
    this.actions = this.el.querySelector('.row-actions')!;
    this.link = this.el.querySelector('.row-link')!;
  }

  progress(done: number, total: number, phase?: string): void {
    const f = total > 0 ? Math.min(1, done / total) : 1;
    this.fill.style.transform = `scaleX(${f})`;
    this.fill.dataset.phase = phase ?? '';
    this.el.querySelector('.bar')!.setAttribute('aria-valuenow', String(Math.floor(f * 100)));
    this.el.dataset.done = String(done);
  }

  state(state: string, text: string): void {
    this.el.dataset.state = state;
    this.status.textContent = text;
    this.status.title = text;
  }

  showLink(url: string | null, label = url ?? ''): void {
    this.link.hidden = url === null;
    if (url !== null) {
      this.link.href = url;
      this.link.textContent = label;
    }
  }

  buttons(list: Action[]): void {
    // Buttons are replaced only when the set changes, so focus is not lost on every update.
    const key = list.map((a) => `${a.name}:${a.label}`).join('|');
    if (this.actions.dataset.key === key) return;
    this.actions.dataset.key = key;
    this.actions.replaceChildren(
      ...list.map((a) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = a.label;
        b.dataset.action = a.name;
        if (a.primary) b.className = 'primary';
        b.addEventListener('click', a.onClick);
        return b;
      }),
    );
  }
}
