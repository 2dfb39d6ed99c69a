// Lists of bookings with their actions: "My bookings" for everyone, and everyone's
// bookings for booking admins. Extending moves the end later (PATCH); cancelling asks
// once more in place, then DELETEs. Each card shows its preparation steps and, when the
// service ended it (a failed step), why.

import type { Booking } from "./api";
import { canBook, type Context, resourcesLabel, zoneName } from "./context";
import { field, fill, h, uid } from "./dom";
import { historyToggle, phaseBadge } from "./lifecycle";
import { cancelSeriesButton, seriesCard, seriesMark } from "./series";
import { failureNote, stepList } from "./steps";
import { addHours, dateValue, fromDateValue, iso, parse, rangeLabel } from "./time";

// How often My bookings asks again while a booking's preparation runs.
const PREPARATION_POLL_MS = 3000;
// A step due further ahead than this is not waited for (the next change or reload redraws the list).
const WATCH_AHEAD_MS = 3600_000;

const EXTEND_BY: [number, string][] = [
  [1, "1 hour"],
  [2, "2 hours"],
  [6, "6 hours"],
  [24, "1 day"],
];

function title(b: Booking): string {
  const what = b.package ? b.package.name : "custom resources";
  return `${what} on ${b.pool}`;
}

/** One booking as a card: what, when, status, and (while it is on or ahead) extend and cancel. */
export function bookingCard(ctx: Context, b: Booking, showUser: boolean, inSeries = false): HTMLElement {
  const headingId = uid("booking");
  const live = b.status === "upcoming" || b.status === "active";
  const actions = h("div", { class: "actions" });
  const card = h(
    "article",
    { class: `booking-card status-${b.status}`, "aria-labelledby": headingId, "data-booking-id": String(b.id) },
    h(
      "h3",
      { id: headingId },
      `${title(b)} `,
      h("span", { class: `badge ${b.status}` }, b.status),
      " ",
      phaseBadge(b.phase),
      h("span", { class: "booking-id" }, ` #${b.id}`),
      seriesMark(b),
    ),
    failureNote(b),
    h(
      "p",
      {},
      rangeLabel(parse(b.start), parse(b.end), ctx.zone),
      h("br"),
      resourcesLabel(b.resources),
      b.package ? ` (version ${b.package.version})` : "",
      showUser ? ` · for ${b.user}` : "",
      b.created_by !== b.user ? ` · booked by ${b.created_by}` : "",
    ),
    stepList(b.steps ?? []),
    live ? actions : null,
    historyToggle(ctx, b.id),
  );
  if (!live) return card;

  const by = h(
    "select",
    { id: uid("extend-by") },
    EXTEND_BY.map(([hours, label]) => h("option", { value: String(hours) }, label)),
  );
  const extend = h("button", { type: "button" }, "Extend");
  extend.addEventListener("click", async () => {
    const end = addHours(parse(b.end), Number(by.value));
    try {
      const changed = await ctx.api.extend(b.id, iso(end));
      ctx.messages.info(`Booking #${b.id} (${title(b)}) now ends ${rangeLabel(parse(changed.start), parse(changed.end), ctx.zone).split(" to ").pop()}.`);
      await ctx.changed(changed);
    } catch (e) {
      ctx.messages.error(e);
    }
  });
  const cancel = h("button", { type: "button", class: "danger" }, b.series_id == null ? "Cancel booking…" : "Cancel this one…");
  const showActions = () => {
    fill(
      actions,
      h("div", { class: "extend" }, field(`Extend #${b.id} by`, by), extend),
      cancel,
      inSeries ? null : cancelSeriesButton(ctx, b, actions, showActions),
    );
  };
  cancel.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger" }, "Yes, cancel it");
    const no = h("button", { type: "button" }, "Keep it");
    yes.addEventListener("click", async () => {
      try {
        await ctx.api.cancel(b.id);
        ctx.messages.info(`Booking #${b.id} (${title(b)}) is cancelled; its resources are free again.`);
        await ctx.changed();
      } catch (e) {
        ctx.messages.error(e);
      }
    });
    no.addEventListener("click", () => {
      showActions();
      cancel.focus();
    });
    fill(actions, h("p", { class: "confirm" }, `Cancel booking #${b.id}, ${title(b)}?`), yes, no);
    no.focus();
  });
  showActions();
  return card;
}

/** The signed-in user's bookings from a day ago on. */
export class MyBookingsPanel {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly showOld: HTMLInputElement;
  private timer: number | undefined;
  private seen = ""; // what the list shows, to redraw a poll's answer only when it differs

  constructor(private readonly ctx: Context) {
    this.list = h("div", { class: "booking-list", "aria-live": "off" });
    this.showOld = h("input", { type: "checkbox", id: "show-old-bookings", onchange: () => this.load() });
    this.element = h(
      "div",
      {},
      h("h2", {}, "My bookings"),
      h("p", { class: "hint" }, "From yesterday on, by start. Times are ", zoneName(ctx), "."),
      h("div", { class: "check" }, this.showOld, h("label", { for: "show-old-bookings" }, "Show cancelled and finished bookings")),
      this.list,
    );
  }

  /** One item per booking, and one per series (at its first occurrence shown) holding its occurrences. */
  private items(shown: Booking[]): HTMLElement[] {
    const seen = new Set<number>();
    const items: HTMLElement[] = [];
    for (const b of shown) {
      if (b.series_id == null) {
        items.push(h("li", {}, bookingCard(this.ctx, b, false)));
      } else if (!seen.has(b.series_id)) {
        seen.add(b.series_id);
        const occurrences = shown.filter((o) => o.series_id === b.series_id);
        items.push(h("li", {}, seriesCard(this.ctx, occurrences, (o) => bookingCard(this.ctx, o, false, true))));
      }
    }
    return items;
  }

  /** While a shown booking's step runs (or is about to), ask again every few seconds and
   * redraw when a step or a phase moved, so the card follows its preparation. */
  private watch(shown: Booking[]): void {
    window.clearTimeout(this.timer);
    const now = Date.now();
    let wait = Infinity; // until a step runs: now for a running one, at its due time for a pending one
    for (const s of shown.flatMap((b) => b.steps ?? [])) {
      if (s.state === "RUNNING") wait = Math.min(wait, PREPARATION_POLL_MS);
      else if (s.state === "PENDING") wait = Math.min(wait, Math.max(PREPARATION_POLL_MS, +parse(s.due) - now));
    }
    if (wait <= WATCH_AHEAD_MS) this.timer = window.setTimeout(() => void this.load(true), wait);
  }

  async load(quiet = false): Promise<void> {
    try {
      const bookings = await this.ctx.api.bookings({ user: this.ctx.me.name });
      const now = Date.now();
      // a booking that failed stays in view until its end, saying why (steps.ts' failureNote)
      const current = (b: Booking) => b.status === "upcoming" || b.status === "active" || (b.phase === "FAILED" && +parse(b.end) > now);
      const shown = this.showOld.checked ? bookings : bookings.filter(current);
      this.watch(shown);
      // a poll redraws only what moved (an open History or cancel question stays otherwise)
      const seen = JSON.stringify(shown.map((b) => [b.id, b.phase, b.status, b.end, (b.steps ?? []).map((s) => [s.state, s.message])]));
      if (quiet && seen === this.seen) return;
      this.seen = seen;
      fill(
        this.list,
        shown.length
          ? h("ul", { class: "cards" }, this.items(shown))
          : h("p", {}, canBook(this.ctx) ? "You have no bookings. Select a block on the calendar, or book now." : "You have no bookings."),
      );
    } catch (e) {
      this.ctx.messages.error(e);
    }
  }
}

/** Booking admins: everyone's bookings in a range, optionally one pool or one user. */
export class AllBookingsPanel {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly from: HTMLInputElement;
  private readonly to: HTMLInputElement;
  private readonly pool: HTMLSelectElement;
  private readonly user: HTMLInputElement;

  constructor(private readonly ctx: Context) {
    const zone = ctx.zone;
    const today = zone.dayStart(new Date());
    this.from = h("input", { type: "date", id: "all-from", value: dateValue(zone.addDays(today, -1), zone), required: true });
    this.to = h("input", { type: "date", id: "all-to", value: dateValue(zone.addDays(today, 30), zone), required: true });
    this.pool = h(
      "select",
      { id: "all-pool" },
      h("option", { value: "" }, "every pool"),
      ctx.pools.map((p) => h("option", { value: p.name }, p.name)),
    );
    this.user = h("input", { type: "text", id: "all-user", autocomplete: "off", spellcheck: "false" });
    const form = h(
      "form",
      { class: "inline-form", "aria-label": "Which bookings" },
      field("From", this.from),
      field("To (inclusive)", this.to),
      field("Pool", this.pool),
      field("User", this.user, "Empty: everyone."),
      h("button", { type: "submit" }, "Show"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.load();
    });
    this.list = h("div", { class: "booking-list" });
    this.element = h("div", {}, h("h2", {}, "Everyone's bookings"), form, this.list);
  }

  async load(): Promise<void> {
    const zone = this.ctx.zone;
    const start = fromDateValue(this.from.value, zone);
    const last = fromDateValue(this.to.value, zone);
    if (!start || !last) return;
    try {
      const bookings = await this.ctx.api.bookings({
        start: iso(start),
        end: iso(zone.addDays(last, 1)),
        pool: this.pool.value || undefined,
        user: this.user.value.trim() || undefined,
      });
      fill(
        this.list,
        h("p", {}, `${bookings.length} booking${bookings.length === 1 ? "" : "s"}.`),
        bookings.length ? h("ul", { class: "cards" }, bookings.map((b) => h("li", {}, bookingCard(this.ctx, b, true)))) : null,
      );
    } catch (e) {
      this.ctx.messages.error(e);
    }
  }
}
