/**
 * The booking service's notices in JupyterLab: a status bar item with the count of unread
 * notices and the latest one as its title (hover); a click lists them, and "Mark read"
 * marks them read. A notice that arrives while the page is open also shows as a
 * notification, once.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import { getNotices, INotice, INotices, markNoticeRead } from './api';

const PLUGIN_ID = 'aglais-hub-lab:notices';
const POLL_SECONDS = 30;

function when(iso: string): string {
  return new Date(iso).toLocaleString([], {
    dateStyle: 'short',
    timeStyle: 'short'
  });
}

/** The status bar item: "2 notices", the latest unread as its title; hidden with none. */
class NoticeBadge extends Widget {
  constructor(onOpen: () => void) {
    super();
    this.id = 'aglais-notices';
    this.addClass('aglais-notices');
    this._button.type = 'button';
    this._button.className = 'aglais-notices-button';
    this._button.addEventListener('click', onOpen);
    this._count.className = 'aglais-notices-count';
    this._button.append(this._count);
    this.node.append(this._button);
    this.hide();
  }

  present(answer: INotices): void {
    const unread = answer.notices.filter(n => n.read === null);
    this.node.dataset.unread = String(answer.unread);
    if (!answer.hub || answer.unread === 0 || unread.length === 0) {
      this.hide();
      return;
    }
    this._count.textContent =
      answer.unread === 1 ? '1 notice' : `${answer.unread} notices`;
    this._button.title = unread[0].text;
    this.show();
  }

  private _button = document.createElement('button');
  private _count = document.createElement('span');
}

/** The dialog's body: the unread notices, newest first, each with its time. */
class NoticeList extends Widget {
  constructor(notices: INotice[]) {
    super();
    this.addClass('aglais-notice-list');
    const list = document.createElement('ul');
    for (const notice of notices) {
      const row = document.createElement('li');
      row.className = 'aglais-notice';
      row.dataset.kind = notice.kind;
      const time = document.createElement('time');
      time.dateTime = notice.created;
      time.textContent = when(notice.created);
      const text = document.createElement('span');
      text.className = 'aglais-notice-text';
      text.textContent = notice.text;
      row.append(time, ' ', text);
      list.appendChild(row);
    }
    this.node.appendChild(list);
  }
}

class Notices {
  constructor(statusBar: IStatusBar | null) {
    this.badge = new NoticeBadge(() => void this.open());
    if (statusBar) {
      statusBar.registerStatusItem(PLUGIN_ID, {
        item: this.badge,
        align: 'left',
        rank: -9
      });
    }
  }

  async poll(): Promise<void> {
    window.clearTimeout(this._timer);
    try {
      const answer = await getNotices();
      if (answer.ok) {
        this.apply(answer.data);
        if (!answer.data.hub) {
          return; // not under a hub: nothing will come
        }
      } else if (answer.status === 404) {
        return; // the server extension is not enabled
      }
    } catch (error) {
      console.warn('aglais-hub-lab: notices failed', error);
    }
    this._timer = window.setTimeout(() => void this.poll(), POLL_SECONDS * 1000);
  }

  apply(answer: INotices): void {
    this._answer = answer;
    this.badge.present(answer);
    const unread = answer.notices.filter(n => n.read === null);
    for (const notice of unread.slice().reverse()) {
      if (this._seen.has(notice.id)) {
        continue;
      }
      this._seen.add(notice.id);
      if (!this._first) {
        // new while the page is open: say it once (the badge keeps it until read)
        Notification.info(notice.text, { autoClose: 10000 });
      }
    }
    this._first = false;
  }

  async open(): Promise<void> {
    const unread = (this._answer?.notices ?? []).filter(n => n.read === null);
    if (!unread.length) {
      return;
    }
    const result = await showDialog({
      title: 'Notices about your bookings',
      body: new NoticeList(unread),
      buttons: [Dialog.cancelButton({ label: 'Close' }), Dialog.okButton({ label: 'Mark read' })]
    });
    if (result.button.accept) {
      await Promise.all(unread.map(n => markNoticeRead(n.id)));
      await this.poll();
    }
  }

  readonly badge: NoticeBadge;
  private _answer: INotices | null = null;
  private _seen = new Set<number>();
  private _first = true;
  private _timer = 0;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: "The booking service's notices in the status bar: unread count, latest on hover, list on click.",
  autoStart: true,
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar | null) => {
    const notices = new Notices(statusBar);
    void app.restored.then(() => notices.poll());
  }
};

export default plugin;
