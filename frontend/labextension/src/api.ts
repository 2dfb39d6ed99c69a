/**
 * The jupyter-server extension's API (aglais_lab/handlers.py): the page asks its own
 * server, never the hub or the booking service, so it holds no hub token.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * A walk-in server while the user's booking is on: the booking, and the hub's home page
 * that restarts the server under it.
 */
export interface IRestart {
  booking_id: number;
  package?: string | null;
  pool?: string | null;
  /** When the booking ends (ISO 8601, UTC). */
  until?: string | null;
  url: string;
}

/** GET /aglais/status. */
export interface IStatus {
  /** false: this server does not run under a JupyterHub; show nothing. */
  hub: boolean;
  /** false: no booking service was configured for this server; show nothing. */
  booking_service?: boolean;
  message?: string;
  user?: string;
  /** The account level (0: "give it a try"). */
  level?: number | null;
  level_name?: string | null;
  /** "booking" or "walk-in". */
  kind?: string | null;
  package?: string | null;
  pool?: string | null;
  booking_id?: number | null;
  /** When the booking ends (ISO 8601, UTC); null for a walk-in. */
  end?: string | null;
  /** The booking's status: upcoming, active, finished, cancelled. */
  state?: string | null;
  /** The server's clock when it answered, to count down without trusting the browser's. */
  now?: string;
  seconds_left?: number | null;
  /** The most urgent warning due ("15m", "5m"), from the booking service, or null. */
  warning?: string | null;
  extend_minutes?: number;
  last_notice_seconds?: number;
  poll_seconds?: number;
  /** Set while this walk-in server could restart under the booking that is on now. */
  restart?: IRestart | null;
  register_url?: string;
  logout_url?: string;
  home_url?: string;
}

export interface IAnswer<T> {
  ok: boolean;
  status: number;
  data: T;
}

async function call<T>(path: string, init: RequestInit = {}): Promise<IAnswer<T>> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'aglais', path);
  const response = await ServerConnection.makeRequest(url, init, settings);
  let data: any = {};
  try {
    data = await response.json();
  } catch {
    data = { message: `The server answered ${response.status}.` };
  }
  return { ok: response.ok, status: response.status, data };
}

export function getStatus(): Promise<IAnswer<IStatus & { message?: string }>> {
  return call<IStatus>('status');
}

export function extend(minutes?: number): Promise<IAnswer<IStatus & { message?: string }>> {
  return call<IStatus>('extend', {
    method: 'POST',
    body: JSON.stringify(minutes === undefined ? {} : { minutes })
  });
}

/** One example: its path under the examples, and its size in bytes. */
export interface IExample {
  path: string;
  size: number;
}

/** GET /aglais/examples. */
export interface IExamples {
  examples: IExample[];
  /** Where the file browser shows the examples and the notebooks (null: outside its root). */
  examples_path: string | null;
  notebooks_path: string | null;
}

/** POST /aglais/examples/copy: the copy's name and its file-browser path. */
export interface ICopied {
  name: string;
  path: string | null;
  from: string;
}

export function listExamples(): Promise<IAnswer<IExamples & { message?: string }>> {
  return call<IExamples>('examples');
}

export function copyExample(path: string): Promise<IAnswer<ICopied & { message?: string }>> {
  return call<ICopied>('examples/copy', {
    method: 'POST',
    body: JSON.stringify({ path })
  });
}

/** One notice from the booking service (GET /aglais/notices). */
export interface INotice {
  id: number;
  /** starting, ending, offer_expiring, failed, reclaimed, cancelled, queue_place */
  kind: string;
  booking_id: number | null;
  text: string;
  created: string;
  /** When it was marked read; null while unread. */
  read: string | null;
}

/** GET /aglais/notices: unread first, and how many are unread. */
export interface INotices {
  hub: boolean;
  unread: number;
  notices: INotice[];
}

export function getNotices(): Promise<IAnswer<INotices & { message?: string }>> {
  return call<INotices>('notices');
}

export function markNoticeRead(id: number): Promise<IAnswer<INotice & { message?: string }>> {
  return call<INotice>(`notices/${id}`, { method: 'POST', body: '{}' });
}
