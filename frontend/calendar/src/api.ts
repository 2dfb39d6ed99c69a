// The booking service's REST API v1 (booking_service/openapi.yaml), called with the
// service's OAuth cookie; every request carries the page's XSRF token.

import type { PreparationKind, Step, StepRequest } from "./steps";

export interface Resources {
  cores: number;
  memory_gib: number;
}

export interface Allowance {
  packages: string[] | null; // null: any package
  custom: boolean;
  max_hours: number | null; // null: no limit
  max_advance_days: number | null;
}

export interface Me {
  name: string;
  kind: "user" | "service";
  level: number;
  level_name: string | null;
  admin: boolean;
  can_write: boolean;
  may_book: Allowance;
  ical: CalendarFeed;
  preparation: PreparationKind[]; // the kinds of preparation step there are workers for (steps.ts)
  /** The caller's own feed's address, null without one. */
  ical_url: string | null;
}

/** Whether the private calendar feed is on, and since when. */
export interface CalendarFeed {
  active: boolean;
  created: string | null;
}

/** The caller's feed with its address (GET and DELETE /me/ical): null when off. */
export interface MyCalendarFeed extends CalendarFeed {
  url: string | null;
}

export interface NewCalendarFeed extends CalendarFeed {
  url: string;
}

export interface Pool {
  name: string;
  description: string;
  kind: "reserved" | "shared";
  created: string;
}

export interface Package {
  name: string;
  version: number;
  description: string;
  notebook: Resources;
  spark: { workers: number; worker: Resources };
  footprint: Resources;
  created: string;
}

export interface Count {
  min: number;
  max: number;
}

export interface Block {
  start: string;
  end: string;
  free_min: Resources;
  free_max: Resources;
  packages: Record<string, Count>;
}

export type Grain = "hour" | "day" | "week" | "month";

export interface Availability {
  pool: string;
  grain: Grain;
  tz: string; // the zone whose calendar cut the blocks; their times are UTC
  start: string;
  end: string;
  blocks: Block[];
}

export interface Booking {
  id: number;
  user: string;
  pool: string;
  package: { name: string; version: number } | null;
  resources: Resources;
  start: string;
  end: string;
  state: "booked" | "cancelled" | "offered";
  status: "upcoming" | "active" | "finished" | "cancelled" | "offered";
  created: string;
  created_by: string;
  cancelled: string | null;
  phase: string; // the lifecycle phase (seed 004): OFFERED, ACCEPTED, ... COMPLETED, CANCELLED, ...
  expires: string | null; // an offer's hold
  series_id?: number | null; // the recurring booking it is an occurrence of (series.ts)
  cancel_reason: string | null; // why the service ended it (a failed step, released unused, ...)
  steps?: Step[]; // its preparation steps (GET /bookings and GET /bookings/{id} have them)
}

/** What the service tells the user about their bookings (GET /users/{user}/notices). */
export interface Notice {
  id: number;
  kind: string; // starting, ending, offer_expiring, failed, reclaimed, cancelled, queue_place
  booking_id: number | null;
  text: string;
  created: string;
  read: string | null; // null while unread
  mail: string;
}

export interface Notices {
  user: string;
  unread: number;
  notices: Notice[];
}

export interface Grant {
  id: number;
  start: string;
  end: string;
  cores: number;
  memory_gib: number;
  created: string;
  created_by: string;
}

export interface Alternative {
  pool: string;
  start: string;
  end: string;
}

/** What to book: a package by name, or explicit resources. */
export type What = { package: string } | { resources: Resources };

/** An answer that is not 2xx: the API's {"status", "message"}, and the rest of its body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }

  get alternatives(): Alternative[] | null {
    const found = this.body.alternatives;
    return Array.isArray(found) ? (found as Alternative[]) : null;
  }
}

export class Api {
  constructor(
    readonly base: string,
    private readonly xsrf: string,
  ) {}

  async call<T>(method: string, path: string, body?: unknown, query?: Record<string, string | undefined>): Promise<T> {
    const url = new URL(this.base + path, window.location.href);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    // Every request, reads too: JupyterHub checks the XSRF token of any cookie-authenticated
    // request that is not a page navigation, and fetch() is not one (Sec-Fetch-Mode: cors).
    const headers: Record<string, string> = { Accept: "application/json", "X-XSRFToken": this.xsrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp: Response;
    try {
      resp = await fetch(url.toString(), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (e) {
      throw new ApiError(0, `The booking service did not answer (${String(e)}); check your connection and try again.`);
    }
    const text = await resp.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!resp.ok) {
      const answer = (data && typeof data === "object" ? data : {}) as Record<string, unknown>;
      let message = typeof answer.message === "string" ? answer.message : `The booking service answered ${resp.status}.`;
      if (resp.status === 403 && message.startsWith("Authentication required")) {
        message = "Your login to the booking service has expired: reload the page to log in again.";
      }
      throw new ApiError(resp.status, message, answer);
    }
    return data as T;
  }

  me(): Promise<Me> {
    return this.call("GET", "me");
  }

  async pools(): Promise<Pool[]> {
    return (await this.call<{ pools: Pool[] }>("GET", "pools")).pools;
  }

  async packages(history = false): Promise<Package[]> {
    const answer = await this.call<{ packages: Package[] }>("GET", "packages", undefined, {
      history: history ? "true" : undefined,
    });
    return answer.packages;
  }

  availability(pool: string, start: string, end: string, grain: Grain, tz: string): Promise<Availability> {
    return this.call("GET", `pools/${encodeURIComponent(pool)}/availability`, undefined, { start, end, grain, tz });
  }

  async bookings(query: { start?: string; end?: string; user?: string; pool?: string }): Promise<Booking[]> {
    return (await this.call<{ bookings: Booking[] }>("GET", "bookings", undefined, query)).bookings;
  }

  book(pool: string, what: What, start: string, end: string, steps: StepRequest[] = []): Promise<Booking> {
    return this.call("POST", "bookings", { pool, ...what, start, end, ...(steps.length ? { steps } : {}) });
  }

  extend(id: number, end: string): Promise<Booking> {
    return this.call("PATCH", `bookings/${id}`, { end });
  }

  cancel(id: number): Promise<Booking> {
    return this.call("DELETE", `bookings/${id}`);
  }

  async grants(pool: string, start: string, end: string): Promise<Grant[]> {
    const path = `pools/${encodeURIComponent(pool)}/capacity`;
    return (await this.call<{ grants: Grant[] }>("GET", path, undefined, { start, end })).grants;
  }

  addCapacity(pool: string, grant: { start: string; end: string; cores: number; memory_gib: number }): Promise<Grant> {
    return this.call("POST", `pools/${encodeURIComponent(pool)}/capacity`, grant);
  }

  createPool(pool: { name: string; kind: string; description: string }): Promise<Pool> {
    return this.call("POST", "pools", pool);
  }

  createPackage(spec: Record<string, string | number>): Promise<Package> {
    return this.call("POST", "packages", spec);
  }

  renewFeed(): Promise<NewCalendarFeed> {
    return this.call("POST", "me/ical");
  }

  revokeFeed(): Promise<MyCalendarFeed> {
    return this.call("DELETE", "me/ical");
  }

  notices(user: string): Promise<Notices> {
    return this.call("GET", `users/${encodeURIComponent(user)}/notices`);
  }

  markNotice(user: string, id: number, read: boolean): Promise<Notice> {
    return this.call("POST", `users/${encodeURIComponent(user)}/notices/${id}`, { read });
  }
}
