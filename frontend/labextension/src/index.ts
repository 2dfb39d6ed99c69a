/**
 * aglais-hub in JupyterLab: the booking status item, the warnings with Extend, the
 * last notice, the notice that a booking has started under a walk-in server (with the
 * restart under it), and, for level-0 ("give it a try") users, Register and a logout warning;
 * the booking service's notices are notices.ts.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { extend, getStatus, IRestart, IStatus } from './api';
import examples from './examples';
import notices from './notices';

const PLUGIN_ID = 'aglais-hub-lab:plugin';
/**
 * JupyterLab's hub extension: File > Log Out, and the command palette's. The id is
 * upstream's `CommandIDs.logout`, not exported as a constant we could import:
 * https://github.com/jupyterlab/jupyterlab/blob/v4.6.6/packages/hub-extension/src/index.ts (CommandIDs)
 * (tests/labextension/test_browser.py logs out through the menu, so a rename fails there).
 */
const LOGOUT_COMMANDS = new Set(['hub:logout']);
export const LOGOUT_WARNING = 'Your notebooks and data will be deleted';

/** 0:09:58 */
export function formatLeft(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${h}:${pad(m)}:${pad(s % 60)}`;
}

function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit'
  });
}

function minutesText(seconds: number): string {
  const m = Math.max(1, Math.ceil(seconds / 60));
  return m === 1 ? '1 minute' : `${m} minutes`;
}

/**
 * The status bar item: "medium · 0:09:58 left · until 14:05", and an Extend button
 * while a warning is due.
 */
class BookingStatus extends Widget {
  constructor(private readonly onExtend: () => void) {
    super();
    this.id = 'aglais-booking-status';
    this.addClass('aglais-booking');
    this.node.setAttribute('role', 'status');
    this._package.className = 'aglais-package';
    this._countdown.className = 'aglais-countdown';
    this._until.className = 'aglais-until';
    this._extend.className = 'aglais-extend';
    this._extend.type = 'button';
    this._extend.textContent = 'Extend';
    this._extend.addEventListener('click', () => this.onExtend());
    this._restart.className = 'aglais-restart';
    this._restart.hidden = true;
    this.node.append(
      this._package,
      this._countdown,
      this._until,
      this._extend,
      this._restart
    );
    this.hide();
  }

  /** Seconds left, by the server's clock, or null for no end. */
  secondsLeft(): number | null {
    if (!this._status?.end) {
      return null;
    }
    const now = Date.now() + this._skew;
    return (Date.parse(this._status.end) - now) / 1000;
  }

  get status(): IStatus | null {
    return this._status;
  }

  set status(status: IStatus | null) {
    this._status = status;
    if (status?.now) {
      this._skew = Date.parse(status.now) - Date.now();
    }
    if (!status || !status.hub || !status.booking_service || !status.package) {
      this.hide();
      return;
    }
    this._package.textContent = status.package;
    this.node.dataset.end = status.end ?? '';
    this.node.dataset.kind = status.kind ?? '';
    if (status.end) {
      this._until.textContent = `until ${clock(status.end)}`;
      this.node.title =
        `Your booking of ${status.package}` +
        (status.pool ? ` on ${status.pool}` : '') +
        ` ends at ${new Date(status.end).toLocaleString()}.`;
    } else {
      this._until.textContent = '';
      this.node.title = `${status.package}: a walk-in server, without a booking.`;
    }
    const restart = status.restart;
    this._restart.hidden = !restart;
    if (restart) {
      this._restart.href = restart.url;
      this._restart.textContent = `Booking #${restart.booking_id} is on: restart`;
      this._restart.title = restartText(restart);
    }
    this.show();
    this.tick();
  }

  set busy(busy: boolean) {
    this._extend.disabled = busy;
    this._extend.textContent = busy ? 'Extending…' : 'Extend';
  }

  /** Count down (every second). */
  tick(): void {
    const status = this._status;
    if (!status || this.isHidden) {
      return;
    }
    const left = this.secondsLeft();
    if (left === null) {
      this._countdown.textContent = status.kind === 'walk-in' ? 'walk-in' : '';
      this._extend.hidden = true;
      this.removeClass('aglais-mod-warning');
      this.removeClass('aglais-mod-last');
      return;
    }
    this._countdown.textContent =
      left > 0 ? `${formatLeft(left)} left` : 'booking ended';
    const last = left <= (status.last_notice_seconds ?? 120);
    const warned = !!status.warning || last;
    this.toggleClass('aglais-mod-warning', warned && !last);
    this.toggleClass('aglais-mod-last', last);
    this._extend.hidden = !warned;
  }

  private _status: IStatus | null = null;
  private _skew = 0;
  private _package = document.createElement('span');
  private _countdown = document.createElement('span');
  private _until = document.createElement('span');
  private _extend = document.createElement('button');
  private _restart = document.createElement('a');
}

/** What the walk-in-to-booking notice says (the status item's link has it as its title). */
function restartText(restart: IRestart): string {
  const what = restart.package ? ` (${restart.package})` : '';
  const until = restart.until ? ` until ${clock(restart.until)}` : '';
  return (
    `Your booking #${restart.booking_id}${what} is on${until}; this server is a walk-in. ` +
    'Save your work, then restart it with the booking.'
  );
}

/** The top bar's Register button, for level-0 users: opens the hub's register page. */
class RegisterButton extends Widget {
  constructor() {
    super();
    this.id = 'aglais-register';
    this.addClass('aglais-register-area');
    this._link.className = 'aglais-register';
    this._link.textContent = 'Register';
    this._link.target = '_blank';
    this._link.rel = 'noopener';
    this._link.title =
      'Register an account: keep your work, book packages and get more time';
    this.node.appendChild(this._link);
    this.hide();
  }

  set url(url: string | null) {
    if (url) {
      this._link.href = url;
      this.show();
    } else {
      this.hide();
    }
  }

  private _link = document.createElement('a');
}

/** Owns the status: polls the server extension, shows warnings, extends. */
class Controller {
  constructor(
    private readonly app: JupyterFrontEnd,
    statusBar: IStatusBar | null
  ) {
    this.item = new BookingStatus(() => void this.extend());
    this.register = new RegisterButton();
    if (statusBar) {
      statusBar.registerStatusItem(PLUGIN_ID, {
        item: this.item,
        align: 'left',
        rank: -10
      });
    }
    app.shell.add(this.register, 'top', { rank: 1000 });
    this.guardLogout();
  }

  async start(): Promise<void> {
    await this.poll();
    window.setInterval(() => this.tick(), 1000);
  }

  /** A level-0 user? Asks the server first if the page has no status yet. */
  async isLevel0(): Promise<boolean> {
    if (!this.item.status) {
      await this.poll();
    }
    const status = this.item.status;
    return !!status?.hub && status.level === 0;
  }

  /** Ask the server again; keep what we had if it fails (the server may be restarting). */
  async poll(): Promise<void> {
    window.clearTimeout(this._timer);
    let every = this.item.status?.poll_seconds ?? 30;
    try {
      const answer = await getStatus();
      if (answer.ok) {
        this.apply(answer.data);
        every = answer.data.poll_seconds ?? every;
        if (!answer.data.hub || answer.data.booking_service === false) {
          console.info(`aglais-hub-lab: ${answer.data.message}; showing nothing`);
          return; // nothing will change while this server runs
        }
      } else if (answer.status === 404) {
        console.info('aglais-hub-lab: the server extension aglais_lab is not enabled');
        return;
      } else {
        console.warn('aglais-hub-lab: status', answer.status, answer.data.message);
      }
    } catch (error) {
      console.warn('aglais-hub-lab: status failed', error);
    }
    this._timer = window.setTimeout(() => void this.poll(), every * 1000);
  }

  apply(status: IStatus): void {
    if (status.end !== this.item.status?.end) {
      // a new end (extended): the warnings start over
      this._warned = null;
      this._lastNotice = false;
      this._endPolled = false;
      this.dismiss();
    }
    this.item.status = status;
    this.register.url =
      status.hub && status.level === 0 ? status.register_url ?? null : null;
    this.offerRestart(status.restart ?? null);
    this.notify();
  }

  /** Once per booking: the booking has started under this walk-in server. */
  offerRestart(restart: IRestart | null): void {
    if (!restart || restart.booking_id === this._restartOffered) {
      return;
    }
    this._restartOffered = restart.booking_id;
    Notification.info(restartText(restart), {
      autoClose: false,
      actions: [
        {
          label: 'Restart with the booking',
          caption: "Open the hub's home page, which restarts this server under the booking",
          callback: () => window.location.assign(restart.url)
        }
      ]
    });
  }

  tick(): void {
    this.item.tick();
    this.notify();
    const left = this.item.secondsLeft();
    if (left !== null && left <= 0 && !this._endPolled) {
      this._endPolled = true; // ask once at the end: extended meanwhile, or stopping
      void this.poll();
    }
  }

  /** The warnings the booking service says are due, then the last notice before the stop. */
  notify(): void {
    const status = this.item.status;
    const left = this.item.secondsLeft();
    if (!status || left === null || left <= 0) {
      return;
    }
    const actions = [
      {
        label: `Extend by ${status.extend_minutes ?? 30} min`,
        caption: 'Extend the booking, if the pool has room',
        callback: () => void this.extend()
      }
    ];
    if (left <= (status.last_notice_seconds ?? 120)) {
      if (!this._lastNotice) {
        this._lastNotice = true;
        this.dismiss();
        this._notices.push(
          Notification.error(
            `Your booking of ${status.package} ends at ${clock(status.end!)}: ` +
              `the server will be stopped in ${minutesText(left)}. Save your work now.`,
            { autoClose: false, actions }
          )
        );
      }
      return;
    }
    if (status.warning && status.warning !== this._warned) {
      this._warned = status.warning;
      this.dismiss();
      this._notices.push(
        Notification.warning(
          `Your booking of ${status.package} ends in ${minutesText(left)}, at ${clock(status.end!)}. ` +
            'Then the server will be stopped.',
          { autoClose: false, actions }
        )
      );
    }
  }

  dismiss(): void {
    for (const id of this._notices.splice(0)) {
      Notification.dismiss(id);
    }
  }

  async extend(): Promise<void> {
    if (this._extending) {
      return;
    }
    this._extending = true;
    this.item.busy = true;
    try {
      const answer = await extend();
      if (answer.ok) {
        this.apply(answer.data);
        Notification.success(
          `Your booking now ends at ${clock(answer.data.end!)}.`,
          { autoClose: 5000 }
        );
      } else {
        await showDialog({
          title: 'The booking was not extended',
          body: answer.data.message ?? `The server answered ${answer.status}.`,
          buttons: [Dialog.okButton()]
        });
      }
    } catch (error) {
      await showDialog({
        title: 'The booking was not extended',
        body: `The server did not answer: ${error}`,
        buttons: [Dialog.okButton()]
      });
    } finally {
      this._extending = false;
      this.item.busy = false;
    }
  }

  /**
   * Level-0 accounts are removed with their files when they log out: ask first.
   * Wraps the command registry's execute, so the menu, the palette and shortcuts all
   * go through it.
   */
  guardLogout(): void {
    const commands = this.app.commands;
    const execute = commands.execute.bind(commands);
    commands.execute = async (id: string, args?: ReadonlyPartialJSONObject) => {
      if (LOGOUT_COMMANDS.has(id) && (await this.isLevel0())) {
        const result = await showDialog({
          title: 'Log out?',
          body: `${LOGOUT_WARNING}. Register to keep them.`,
          buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'OK' })]
        });
        if (!result.button.accept) {
          return undefined;
        }
      }
      return execute(id, args);
    };
  }

  readonly item: BookingStatus;
  readonly register: RegisterButton;
  private _timer = 0;
  private _warned: string | null = null;
  private _lastNotice = false;
  private _endPolled = false;
  private _extending = false;
  private _restartOffered: number | null = null;
  private _notices: string[] = [];
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'The aglais-hub booking in the status bar (package, time left, Extend), and Register for level-0 users.',
  autoStart: true,
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar | null) => {
    const controller = new Controller(app, statusBar);
    void app.restored.then(() => controller.start());
  }
};

export default [plugin, examples, notices];
