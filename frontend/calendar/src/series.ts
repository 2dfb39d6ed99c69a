// Recurring bookings on the calendar: "Repeat" for a selection (presets that write an
// RFC 5545 RRULE, or a rule typed in), booking the series (POST /series) on the page's
// time zone's clock, and the series' mark and "cancel the series" on booking cards.

import { ApiError, type Booking, type What } from "./api";
import type { Context } from "./context";
import { field, fill, h, uid } from "./dom";
import { dateTimeValue, dateValue, parse, rangeLabel } from "./time";

export interface SeriesOccurrence {
  occurrence: number;
  start: string;
  end: string;
  reason?: string;
}

export interface Series {
  id: number;
  pool: string;
  start: string; // wall clock of `tz`
  tz: string;
  duration: string;
  rrule: string;
  mode: "all" | "fit";
  cancelled: string | null;
  bookings: Booking[];
  skipped: SeriesOccurrence[];
}

// [value, label, the rule's FREQ and BY parts]
const PRESETS: [string, string, string][] = [
  ["", "Does not repeat", ""],
  ["daily", "Every day", "FREQ=DAILY"],
  ["weekdays", "Every weekday (Monday to Friday)", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"],
  ["weekly", "Every week", "FREQ=WEEKLY"],
  ["weekends", "Every Saturday and Sunday", "FREQ=WEEKLY;BYDAY=SA,SU"],
  ["rrule", "Custom rule (RFC 5545 RRULE)", ""],
];

/** The rule the presets make: their parts, then COUNT or UNTIL (a date: through that day). */
export function presetRule(preset: string, end: { count?: number; until?: string }): string | null {
  const parts = PRESETS.find(([value]) => value === preset)?.[2];
  if (!parts) return null;
  if (end.until) return `${parts};UNTIL=${end.until.replace(/-/g, "")}`;
  return `${parts};COUNT=${end.count ?? 1}`;
}

/** "Repeat" for the selection: a preset with a count or a last day, or a raw RRULE; and
 * whether to book only the occurrences that fit. */
export class RepeatFields {
  readonly element: HTMLElement;
  private readonly preset: HTMLSelectElement;
  private readonly endKind: HTMLSelectElement;
  private readonly count: HTMLInputElement;
  private readonly until: HTMLInputElement;
  private readonly raw: HTMLInputElement;
  private readonly fit: HTMLInputElement;
  private readonly details: HTMLElement;

  constructor(ctx: Context, start: Date) {
    this.preset = h("select", { id: "repeat-preset" }, PRESETS.map(([value, label]) => h("option", { value }, label)));
    this.endKind = h("select", { id: "repeat-end" }, h("option", { value: "count" }, "times"), h("option", { value: "until" }, "until"));
    this.count = h("input", { type: "number", id: "repeat-count", min: 1, max: 100, step: 1, value: 7, inputmode: "numeric" });
    this.until = h("input", { type: "date", id: "repeat-until", value: dateValue(new Date(start.getTime() + 7 * 86400_000), ctx.zone) });
    this.raw = h("input", { type: "text", id: "repeat-rrule", autocomplete: "off", spellcheck: "false", placeholder: "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8" });
    this.fit = h("input", { type: "checkbox", id: "repeat-fit" });
    this.details = h("div", { class: "repeat-details" });
    const update = () => this.show();
    this.preset.addEventListener("change", update);
    this.endKind.addEventListener("change", update);
    this.element = h("fieldset", { class: "repeat" }, h("legend", {}, "Repeat"), field("How often", this.preset), this.details);
    this.show();
  }

  private show(): void {
    const preset = this.preset.value;
    if (!preset) {
      fill(this.details);
      return;
    }
    const fit = h("div", { class: "check" }, this.fit, h("label", { for: this.fit.id }, "Book the occurrences that fit, skip the others"));
    if (preset === "rrule") {
      fill(this.details, field("Rule", this.raw, "An RFC 5545 RRULE with COUNT or UNTIL, read on the page's time zone."), fit);
      return;
    }
    const byCount = this.endKind.value === "count";
    fill(this.details, field("Ends", this.endKind), byCount ? field("Occurrences", this.count) : field("Last day", this.until), fit);
  }

  /** The RRULE to book, or null for a single booking. */
  rule(): string | null {
    const preset = this.preset.value;
    if (!preset) return null;
    if (preset === "rrule") return this.raw.value.trim();
    return this.endKind.value === "count" ? presetRule(preset, { count: Number(this.count.value) }) : presetRule(preset, { until: this.until.value });
  }

  mode(): "all" | "fit" {
    return this.fit.checked ? "fit" : "all";
  }
}

function occurrenceList(ctx: Context, items: SeriesOccurrence[]): HTMLElement {
  return h(
    "ul",
    { class: "occurrence-list" },
    items.map((o) => h("li", {}, `${rangeLabel(parse(o.start), parse(o.end), ctx.zone)}: ${o.reason ?? ""}`)),
  );
}

/** Book `what` from `start` to `end` on the rule, the start read on the page's zone's clock;
 * say what was booked and skipped (or, refused, which occurrences and why) in `report`.
 * The caller reloads what shows bookings (ctx.changed) when it returns true. */
export async function bookSeries(
  ctx: Context,
  report: HTMLElement,
  pool: string,
  what: What,
  start: Date,
  end: Date,
  name: string,
  repeat: RepeatFields,
): Promise<boolean> {
  const minutes = Math.max(1, Math.round((end.getTime() - start.getTime()) / 60_000));
  const body = {
    pool,
    ...what,
    start: dateTimeValue(start, ctx.zone),
    tz: ctx.zone.name,
    duration: `PT${minutes}M`,
    rrule: repeat.rule(),
    mode: repeat.mode(),
  };
  report.hidden = true;
  try {
    const series = await ctx.api.call<Series>("POST", "series", body);
    const n = series.bookings.length;
    ctx.messages.info(
      `Booked series #${series.id}: ${name} on ${series.pool}, ${n} occurrence${n === 1 ? "" : "s"}` +
        (series.skipped.length ? `; ${series.skipped.length} skipped (they did not fit).` : "."),
    );
    if (series.skipped.length) {
      fill(report, h("h3", {}, `Skipped occurrences of series #${series.id}`), occurrenceList(ctx, series.skipped));
      report.hidden = false;
    }
    return true;
  } catch (e) {
    ctx.messages.error(e);
    const failed = e instanceof ApiError && Array.isArray(e.body.failed) ? (e.body.failed as SeriesOccurrence[]) : null;
    if (failed) {
      fill(report, h("h3", {}, "Occurrences that cannot be booked"), occurrenceList(ctx, failed));
      report.hidden = false;
    }
    return false;
  }
}

/** The mark of an occurrence of a series on its card. */
export function seriesMark(b: Booking): HTMLElement | null {
  return b.series_id == null ? null : h("span", { class: "badge series", title: "An occurrence of a recurring booking" }, `series #${b.series_id}`);
}

/** "Cancel series…", asking once more in place, for an occurrence's card. */
export function cancelSeriesButton(ctx: Context, b: Booking, actions: HTMLElement, restore: () => void): HTMLElement | null {
  const id = b.series_id;
  if (id == null) return null;
  const button = h("button", { type: "button", class: "danger" }, "Cancel series…");
  button.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger" }, "Yes, cancel the series");
    const no = h("button", { type: "button" }, "Keep it");
    yes.addEventListener("click", async () => {
      try {
        const series = await ctx.api.call<Series & { cancelled_bookings: number[] }>("DELETE", `series/${id}`);
        const n = series.cancelled_bookings.length;
        ctx.messages.info(`Series #${id} is cancelled: ${n} occurrence${n === 1 ? "" : "s"} to come, their resources free again.`);
        await ctx.changed();
      } catch (e) {
        ctx.messages.error(e);
      }
    });
    no.addEventListener("click", () => restore());
    fill(actions, h("p", { class: "confirm" }, `Cancel every occurrence to come of series #${id}?`), yes, no);
    no.focus();
  });
  return button;
}

/** The occurrences of one series in a list as one item: what and how often, Cancel series,
 * and each occurrence's own card (`card`, with its own extend and cancel). */
export function seriesCard(ctx: Context, occurrences: Booking[], card: (b: Booking) => HTMLElement): HTMLElement {
  const first = occurrences[0];
  const headingId = uid("series");
  const actions = h("div", { class: "actions" });
  const restore = () => fill(actions, cancelSeriesButton(ctx, first, actions, restore));
  restore();
  const what = first.package ? first.package.name : "custom resources";
  const n = occurrences.length;
  return h(
    "article",
    { class: "series-card", "aria-labelledby": headingId, "data-series-id": String(first.series_id) },
    h("h3", { id: headingId }, `${what} on ${first.pool} `, h("span", { class: "badge series" }, `series #${first.series_id}`)),
    h("p", {}, `${n} occurrence${n === 1 ? "" : "s"} to come, from ${rangeLabel(parse(first.start), parse(first.end), ctx.zone)}.`),
    actions,
    h("ul", { class: "cards" }, occurrences.map((b) => h("li", {}, card(b)))),
  );
}
