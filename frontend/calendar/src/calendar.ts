// The calendar panel: pick a pool and a view (a day in hours, a week or a month in days,
// or a custom range, each from a midnight of the page's time zone), see the availability
// grid with your bookings on it, select a block (or several) and book it, book now for the
// next few hours, and take one of the alternatives the service proposes when a booking does
// not fit. A level that cannot book (a trial) sees the same grid, with nothing to select.

import { ApiError, type Alternative, type Block, type Booking, type Grain, type Resources, type What } from "./api";
import { bookSeries, RepeatFields } from "./series";
import { StageFileFields, type StepRequest } from "./steps";
import { allowanceLabel, bookablePackages, canBook, shownPackages, type Context, resourcesLabel, zoneName } from "./context";
import { field, fill, h } from "./dom";
import { Grid, type Row, type Selection } from "./grid";
import { remembered, remember } from "./prefs";
import { DAY, addHours, dateLabel, dateValue, durationLabel, fromDateValue, hoursBetween, iso, parse, rangeLabel, timeLabel } from "./time";
import type { Zone } from "./zone";

type View = "day" | "week" | "month" | "custom";

const VIEWS: { view: View; label: string; hint: string }[] = [
  { view: "day", label: "Day", hint: "one day in hours" },
  { view: "week", label: "Week", hint: "a week in days" },
  { view: "month", label: "Month", hint: "a month in days" },
  { view: "custom", label: "Custom range", hint: "any dates, in hours, days, weeks or months" },
];

const MAX_COLUMNS = 400; // wider grids are unreadable; the API allows more
const POOL_KEY = "pool"; // the pool last shown, remembered in this browser

function floorCount(free: Resources, need: Resources): number {
  const cores = need.cores > 0 ? free.cores / need.cores : Infinity;
  const memory = need.memory_gib > 0 ? free.memory_gib / need.memory_gib : Infinity;
  return Math.max(0, Math.floor(Math.min(cores, memory) + 1e-9));
}

export class CalendarPanel {
  readonly element: HTMLElement;
  private view: View = "week";
  private anchor: Date; // a midnight of the zone in the view
  private custom: { start: Date; end: Date; grain: Grain };
  private pool = "";
  private customResources: Resources | null = null;
  private grid: Grid | null = null;
  private selection: Selection | null = null;
  private loading = 0;
  private viewKey = "";

  private readonly poolSelect: HTMLSelectElement;
  private readonly poolControl: HTMLElement;
  private readonly viewButtons = new Map<View, HTMLButtonElement>();
  private readonly customForm: HTMLFormElement;
  private readonly heading: HTMLElement;
  private readonly gridArea: HTMLElement;
  private readonly selectionArea: HTMLElement;
  private readonly alternativesArea: HTMLElement;
  private readonly bookNowPackage: HTMLSelectElement;

  constructor(private readonly ctx: Context) {
    const today = ctx.zone.dayStart(new Date());
    this.anchor = today;
    this.custom = { start: today, end: ctx.zone.addDays(today, 14), grain: "day" };
    this.poolSelect = h("select", {
      id: "calendar-pool",
      onchange: () => {
        this.pool = this.poolSelect.value;
        remember(POOL_KEY, this.pool);
        this.selection = null;
        this.load();
      },
    });
    this.poolControl = h("div", { class: "pool-control" });
    const viewGroup = h(
      "div",
      { class: "segmented", role: "group", "aria-label": "View" },
      VIEWS.map(({ view, label, hint }) => {
        const button = h("button", { type: "button", "aria-pressed": String(view === this.view), title: hint, onclick: () => this.setView(view) }, label);
        this.viewButtons.set(view, button);
        return button;
      }),
    );
    const nav = h(
      "div",
      { class: "nav-buttons", role: "group", "aria-label": "Move in time" },
      h("button", { type: "button", onclick: () => this.move(-1) }, h("span", { "aria-hidden": "true" }, "‹ "), "Earlier"),
      h("button", { type: "button", onclick: () => this.today() }, "Today"),
      h("button", { type: "button", onclick: () => this.move(1) }, "Later", h("span", { "aria-hidden": "true" }, " ›")),
    );
    this.customForm = this.renderCustomForm();
    this.heading = h("h2", { id: "calendar-heading", tabindex: "-1" });
    this.gridArea = h("div", { class: "grid-area", "aria-busy": "false" });
    this.selectionArea = h("section", { class: "selection", "aria-label": "Your selection", hidden: true });
    this.alternativesArea = h("section", { class: "alternatives", "aria-labelledby": "alternatives-heading", hidden: true });
    this.bookNowPackage = h("select", { id: "book-now-package" });

    const booking = canBook(ctx);
    const reserved = this.reserved().length > 0;
    this.element = h(
      "div",
      { class: "calendar-panel" },
      h(
        "p",
        { class: "allowance" },
        allowanceLabel(ctx),
        // a trial level: where to get one that books
        booking || ctx.me.admin ? null : [" ", h("a", { href: `${ctx.hub}register`, class: "register" }, "Register"), " for an account that can book packages."],
      ),
      reserved
        ? h("div", { class: "controls" }, this.poolControl, viewGroup, nav)
        : h("p", {}, ctx.me.admin ? "There is no pool to book yet: create one under Pools and capacity." : "There is no pool to book yet."),
      this.customForm,
      this.heading,
      this.legend(),
      h(
        "p",
        { id: "grid-help", class: "hint" },
        "Times are ",
        zoneName(ctx),
        ". ",
        booking
          ? [
              "Click a block to select it, or drag along a row to select several; on a touch screen, tap the first block and then the last. ",
              "With the keyboard: arrow keys move, Enter selects, Shift with the left and right arrows stretches the selection, Escape clears it, and Tab goes on to the Book button.",
            ]
          : "Each block says how many of each package fit, for you to see what is free; your account level cannot book them.",
      ),
      this.gridArea,
      this.selectionArea,
      this.alternativesArea,
      !booking || !reserved ? null : this.renderBookNow(),
      ctx.me.may_book.custom && reserved ? this.renderCustomResources() : null,
    );
    this.syncPools();
    this.syncViewButtons();
  }

  /** The pools that can be booked, as GET /pools lists them (by name). */
  private reserved() {
    return this.ctx.pools.filter((p) => p.kind === "reserved");
  }

  /** Offer the bookable pools (an admin may have added one in this page): a selector when
   * there are several. The pool shown is the one chosen last in this browser, else the
   * first. */
  syncPools(): void {
    const reserved = this.reserved();
    const names = reserved.map((p) => p.name);
    if (!names.includes(this.pool)) {
      const last = remembered(POOL_KEY);
      this.pool = last !== null && names.includes(last) ? last : (names[0] ?? "");
    }
    fill(
      this.poolSelect,
      reserved.map((p) => h("option", { value: p.name }, p.description ? `${p.name}: ${p.description}` : p.name)),
    );
    this.poolSelect.value = this.pool;
    const only = reserved.length === 1 ? reserved[0] : null;
    fill(
      this.poolControl,
      only
        ? h("p", { class: "pool-name" }, "Pool ", h("b", {}, only.name), only.description ? `: ${only.description}` : "")
        : field("Pool", this.poolSelect),
    );
  }

  /** The zone changed from `before`: show the same dates on the new zone's clock. */
  zoneChanged(before: Zone): void {
    const moved = (day: Date) => {
      const w = before.wall(day);
      return this.ctx.zone.at(w.year, w.month, w.day);
    };
    this.anchor = moved(this.anchor);
    this.custom = { ...this.custom, start: moved(this.custom.start), end: moved(this.custom.end) };
    this.syncCustomInputs();
    this.selection = null;
  }

  /** The range and grain the view shows. */
  private range(): { start: Date; end: Date; grain: Grain } {
    const zone = this.ctx.zone;
    switch (this.view) {
      case "day":
        return { start: zone.dayStart(this.anchor), end: zone.addDays(this.anchor, 1), grain: "hour" };
      case "week": {
        const start = zone.weekStart(this.anchor);
        return { start, end: zone.addDays(start, 7), grain: "day" };
      }
      case "month": {
        const start = zone.monthStart(this.anchor);
        return { start, end: zone.addMonths(start, 1), grain: "day" };
      }
      case "custom":
        return { ...this.custom };
    }
  }

  private setView(view: View): void {
    this.view = view;
    this.syncViewButtons();
    this.selection = null;
    this.load();
  }

  private syncViewButtons(): void {
    for (const [view, button] of this.viewButtons) button.setAttribute("aria-pressed", String(view === this.view));
    this.customForm.hidden = this.view !== "custom";
  }

  /** Days from `start` to `end`, two midnights of the zone (23- and 25-hour days count one). */
  private days(start: Date, end: Date): number {
    return Math.round((end.getTime() - start.getTime()) / DAY);
  }

  private move(direction: number): void {
    const zone = this.ctx.zone;
    switch (this.view) {
      case "day":
        this.anchor = zone.addDays(this.anchor, direction);
        break;
      case "week":
        this.anchor = zone.addDays(this.anchor, 7 * direction);
        break;
      case "month":
        this.anchor = zone.addMonths(this.anchor, direction);
        break;
      case "custom": {
        const span = direction * this.days(this.custom.start, this.custom.end);
        this.custom = {
          ...this.custom,
          start: zone.addDays(this.custom.start, span),
          end: zone.addDays(this.custom.end, span),
        };
        this.syncCustomInputs();
        break;
      }
    }
    this.selection = null;
    this.load();
  }

  private today(): void {
    const zone = this.ctx.zone;
    this.anchor = zone.dayStart(new Date());
    if (this.view === "custom") {
      const span = this.days(this.custom.start, this.custom.end);
      this.custom = { ...this.custom, start: this.anchor, end: zone.addDays(this.anchor, span) };
      this.syncCustomInputs();
    }
    this.selection = null;
    this.load();
  }

  private customInputs!: { from: HTMLInputElement; to: HTMLInputElement; grain: HTMLSelectElement };

  private renderCustomForm(): HTMLFormElement {
    const from = h("input", { type: "date", id: "custom-from", required: true });
    const to = h("input", { type: "date", id: "custom-to", required: true });
    const grain = h(
      "select",
      { id: "custom-grain" },
      (["hour", "day", "week", "month"] as Grain[]).map((g) => h("option", { value: g, selected: g === this.custom.grain }, `${g}s`)),
    );
    this.customInputs = { from, to, grain };
    this.syncCustomInputs();
    const form = h(
      "form",
      { class: "custom-range inline-form", "aria-label": "Custom range", hidden: true },
      field("From", from),
      field("To (inclusive)", to),
      field("Blocks of", grain),
      h("button", { type: "submit" }, "Show"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const start = fromDateValue(from.value, this.ctx.zone);
      const last = fromDateValue(to.value, this.ctx.zone);
      if (!start || !last || last < start) {
        this.ctx.messages.error(new ApiError(400, "Give a start date and an end date on or after it."));
        return;
      }
      this.custom = { start, end: this.ctx.zone.addDays(last, 1), grain: grain.value as Grain };
      this.selection = null;
      this.load();
    });
    return form;
  }

  private syncCustomInputs(): void {
    if (!this.customInputs) return;
    this.customInputs.from.value = dateValue(this.custom.start, this.ctx.zone);
    this.customInputs.to.value = dateValue(this.ctx.zone.addDays(this.custom.end, -1), this.ctx.zone);
  }

  private legend(): HTMLElement {
    const item = (cls: string, text: string, label: string) =>
      h("li", {}, h("span", { class: `swatch cell ${cls}`, "aria-hidden": "true" }, text), label);
    return h(
      "ul",
      { class: "legend", "aria-label": "Legend" },
      item("fits", "2", "fits for the whole block (how many side by side)"),
      item("partial", "~1", "fits for part of it only"),
      item("none", "–", "does not fit"),
      item("fits mine", "1", "your booking"),
      item("fits selected", "1", "selected"),
    );
  }

  private rows(): Row[] {
    const rows: Row[] = shownPackages(this.ctx).map((p) => ({
      key: p.name,
      label: p.name,
      detail: resourcesLabel(p.footprint),
      what: { package: p.name },
      count: (block: Block) => block.packages[p.name] ?? { min: 0, max: 0 },
    }));
    const need = this.customResources;
    if (need) {
      rows.push({
        key: "custom",
        label: "custom",
        detail: resourcesLabel(need),
        what: { resources: need },
        count: (block: Block) => ({ min: floorCount(block.free_min, need), max: floorCount(block.free_max, need) }),
      });
    }
    return rows;
  }

  /** Fetch the availability and my bookings for the view, and redraw the grid. */
  async load(): Promise<void> {
    if (!this.pool) return;
    const zone = this.ctx.zone;
    const { start, end, grain } = this.range();
    const ticket = ++this.loading;
    const last = zone.addDays(end, -1);
    const oneDay = grain === "hour" && last.getTime() <= start.getTime();
    const span = oneDay ? dateLabel(start, zone) : `${dateLabel(start, zone)} to ${dateLabel(last, zone)} ${zone.wall(last).year}`;
    this.heading.textContent = `Pool ${this.pool}: ${span}, by ${grain} (${zone.name})`;
    const columns = (end.getTime() - start.getTime()) / ({ hour: 1, day: 24, week: 168, month: 720 }[grain] * 3600_000);
    if (columns > MAX_COLUMNS) {
      this.ctx.messages.error(new ApiError(400, `That range has about ${Math.round(columns)} ${grain}s; choose larger blocks or a shorter range (at most ${MAX_COLUMNS} columns).`));
      return;
    }
    this.gridArea.setAttribute("aria-busy", "true");
    try {
      const [availability, mine] = await Promise.all([
        this.ctx.api.availability(this.pool, iso(start), iso(end), grain, zone.name),
        this.ctx.api.bookings({ start: iso(start), end: iso(end), user: this.ctx.me.name, pool: this.pool }),
      ]);
      if (ticket !== this.loading) return; // a newer view was asked for meanwhile
      this.draw(availability.blocks, grain, mine, `${this.pool} ${iso(start)} ${iso(end)} ${grain} ${zone.name}`);
    } catch (e) {
      if (ticket === this.loading) this.ctx.messages.error(e);
    } finally {
      if (ticket === this.loading) this.gridArea.setAttribute("aria-busy", "false");
    }
  }

  private draw(blocks: Block[], grain: Grain, mine: Booking[], viewKey: string): void {
    const hadFocus = this.gridArea.contains(document.activeElement);
    const previous = this.grid;
    const sameView = viewKey === this.viewKey; // a reload after a change: keep the focus where it was
    this.viewKey = viewKey;
    const rows = this.rows();
    if (!rows.length) {
      fill(this.gridArea, h("p", {}, "Nothing here for your account level to book."));
      return;
    }
    const now = new Date();
    const may = this.ctx.me.may_book;
    const sel = this.selection;
    this.grid = new Grid({
      title: this.heading.textContent ?? "Availability",
      zone: this.ctx.zone,
      bookable: canBook(this.ctx),
      grain,
      blocks,
      rows,
      mine,
      now,
      latestStart: may.max_advance_days === null ? null : new Date(now.getTime() + may.max_advance_days * DAY),
      selection: sel ? { row: sel.row.key, from: sel.from, to: sel.to } : null,
      focus: sameView ? (previous?.focusPosition ?? null) : null,
      onSelect: (selection, how) => this.select(selection, how),
    });
    previous?.dispose();
    fill(this.gridArea, this.grid.element);
    if (hadFocus) this.grid.focusActive();
    if (!sel) this.select(null, "pointer");
  }

  private select(selection: Selection | null, how: "pointer" | "keyboard"): void {
    this.selection = selection;
    if (!selection) {
      this.selectionArea.hidden = true;
      fill(this.selectionArea);
      return;
    }
    const now = new Date();
    const start = selection.start < now ? now : selection.start;
    const hours = hoursBetween(start, selection.end);
    const may = this.ctx.me.may_book;
    const tooLong = may.max_hours !== null && hours > may.max_hours;
    const name = selection.row.key === "custom" ? `custom resources (${selection.row.detail})` : selection.row.label;
    const zone = this.ctx.zone;
    const when = selection.start < now ? `now to ${timeLabel(selection.end, zone, true)}` : rangeLabel(start, selection.end, zone);
    const summary = `${name} on ${this.pool}, ${when} (${durationLabel(hours)})`;
    const repeat = new RepeatFields(this.ctx, start);
    const stage = StageFileFields.for(this.ctx, "selection");
    const book = h(
      "button",
      {
        type: "button",
        class: "primary",
        disabled: tooLong,
        onclick: () => this.bookSelection(selection.row.what, start, selection.end, name, repeat, stage),
      },
      `Book ${selection.row.key === "custom" ? "these resources" : selection.row.label}`,
    );
    fill(
      this.selectionArea,
      h("h3", {}, "Your selection"),
      h("p", {}, summary + "."),
      selection.fits ? null : h("p", { class: "warning" }, "Part of this is not free throughout: booking it will be refused, with times that fit instead."),
      tooLong ? h("p", { class: "warning" }, `Too long: your account level books at most ${may.max_hours} hours. Select fewer blocks.`) : null,
      h("div", { class: "actions" }, book, h("button", { type: "button", onclick: () => this.grid?.clearSelection() }, "Clear selection")),
      repeat.element, // after the Book button, which Tab from the grid reaches first
      stage?.element,
    );
    this.selectionArea.hidden = false;
    if (how === "keyboard") this.ctx.messages.info(`Selected ${summary}. Press Tab to reach the Book button.`);
  }

  /** The selection's Book: once, or on Repeat's rule; with the steps of Stage a file (not for a series). */
  private bookSelection(what: What, start: Date, end: Date, name: string, repeat: RepeatFields, stage: StageFileFields | null): void {
    let steps: StepRequest[];
    try {
      steps = stage ? stage.steps() : [];
      if (steps.length && repeat.rule()) throw new ApiError(400, "Staging a file goes with a single booking: choose Does not repeat, or untick Stage a file.");
    } catch (e) {
      this.ctx.messages.error(e);
      return;
    }
    if (repeat.rule()) void this.bookSeries(what, start, end, name, repeat);
    else void this.book(what, start, end, name, steps, stage);
  }

  /** Book, and on a 409 offer the alternatives the service proposed. With preparation
   * `steps`, the booking starts no earlier than their quotes allow (steps.ts). */
  async book(what: What, start: Date, end: Date, name: string, steps: StepRequest[] = [], stage: StageFileFields | null = null): Promise<void> {
    this.alternativesArea.hidden = true;
    const now = stage ? stage.earliestStart(new Date(), steps) : new Date();
    const from = start < now ? now : start; // a selection made a while ago still means "from now"
    if (from >= end) {
      this.ctx.messages.error(new ApiError(400, `Staging the file first takes until ${timeLabel(from, this.ctx.zone, true)}, past this booking's end: choose a later time.`));
      return;
    }
    this.ctx.messages.clear(); // what an earlier booking said is not this one's answer
    try {
      const booking = await this.ctx.api.book(this.pool, what, iso(from), iso(end), steps);
      this.selection = null;
      const prepared = steps.length ? " Its file is staged before the start: see its card." : "";
      this.ctx.messages.info(`Booked ${name} on ${booking.pool} from ${rangeLabel(parse(booking.start), parse(booking.end), this.ctx.zone)} (booking #${booking.id}).${prepared}`);
      await this.ctx.changed(booking);
    } catch (e) {
      this.ctx.messages.error(e);
      const alternatives = e instanceof ApiError ? e.alternatives : null;
      if (alternatives) this.offer(what, name, alternatives, steps, stage);
    }
  }

  /** Book the selection on a rule (series.ts); the skipped or refused occurrences show where alternatives do. */
  async bookSeries(what: What, start: Date, end: Date, name: string, repeat: RepeatFields): Promise<void> {
    this.alternativesArea.hidden = true;
    if (await bookSeries(this.ctx, this.alternativesArea, this.pool, what, start, end, name, repeat)) {
      this.selection = null;
      await this.ctx.changed();
    }
  }

  private offer(what: What, name: string, alternatives: Alternative[], steps: StepRequest[], stage: StageFileFields | null): void {
    fill(
      this.alternativesArea,
      h("h3", { id: "alternatives-heading" }, `Times that fit ${name}`),
      alternatives.length
        ? h(
            "ul",
            { class: "alternative-list" },
            alternatives.map((alt) =>
              h(
                "li",
                {},
                h(
                  "button",
                  {
                    type: "button",
                    class: "alternative",
                    onclick: () => this.book(what, parse(alt.start), parse(alt.end), name, steps, stage),
                  },
                  `Book ${rangeLabel(parse(alt.start), parse(alt.end), this.ctx.zone)}`,
                ),
              ),
            ),
          )
        : h("p", {}, "Nothing of the same length fits in the next 90 days; try a shorter booking or another pool."),
    );
    this.alternativesArea.hidden = false;
    this.alternativesArea.querySelector<HTMLButtonElement>("button")?.focus();
  }

  private renderBookNow(): HTMLElement {
    const may = this.ctx.me.may_book;
    const hours = h("input", {
      type: "number",
      id: "book-now-hours",
      min: "1",
      max: may.max_hours === null ? null : String(Math.floor(may.max_hours)),
      step: "1",
      value: String(Math.min(2, may.max_hours ?? 2)),
      required: true,
      inputmode: "numeric",
    });
    this.fillBookNowPackages();
    const stage = StageFileFields.for(this.ctx, "book-now");
    const form = h(
      "form",
      { class: "book-now inline-form", "aria-labelledby": "book-now-heading" },
      h("h3", { id: "book-now-heading" }, "Book now"),
      field("Package", this.bookNowPackage),
      field("For the next (hours)", hours, may.max_hours === null ? undefined : `At most ${may.max_hours} hours.`),
      stage?.element, // with a file to stage, "now" is once it is staged
      h("button", { type: "submit", class: "primary" }, "Book now"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const n = Number(hours.value);
      if (!(n > 0)) {
        this.ctx.messages.error(new ApiError(400, "Give the number of hours, 1 or more."));
        return;
      }
      const choice = this.bookNowPackage.value;
      const what: What = choice === "custom" && this.customResources ? { resources: this.customResources } : { package: choice };
      const name = choice === "custom" && this.customResources ? `custom resources (${resourcesLabel(this.customResources)})` : choice;
      let steps: StepRequest[];
      try {
        steps = stage ? stage.steps() : [];
      } catch (err) {
        this.ctx.messages.error(err);
        return;
      }
      const now = stage ? stage.earliestStart(new Date(), steps) : new Date();
      void this.book(what, now, addHours(now, n), name, steps, stage);
    });
    return form;
  }

  private fillBookNowPackages(): void {
    const options = bookablePackages(this.ctx).map((p) => h("option", { value: p.name }, `${p.name} (${resourcesLabel(p.footprint)})`));
    if (this.customResources) options.push(h("option", { value: "custom" }, `custom (${resourcesLabel(this.customResources)})`));
    const current = this.bookNowPackage.value;
    fill(this.bookNowPackage, options);
    if (current) this.bookNowPackage.value = current;
  }

  private renderCustomResources(): HTMLElement {
    const cores = h("input", { type: "number", id: "custom-cores", min: "0.001", step: "0.001", value: "1", required: true });
    const memory = h("input", { type: "number", id: "custom-memory", min: "0.001", step: "0.25", value: "4", required: true });
    const form = h(
      "form",
      { class: "custom-resources inline-form", "aria-labelledby": "custom-resources-heading" },
      h("h3", { id: "custom-resources-heading" }, "Custom resources"),
      h("p", { class: "hint" }, "Your level may book resources of its own choosing: they show as the row “custom” on the calendar."),
      field("Cores", cores),
      field("Memory (GiB)", memory),
      h("button", { type: "submit" }, "Show on the calendar"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.customResources = { cores: Number(cores.value), memory_gib: Number(memory.value) };
      this.fillBookNowPackages();
      this.load();
    });
    return form;
  }
}
