// "Find me a slot": ask the service for offers (POST /offersets) for a package, a window
// in which the session should start (typed on the page's time-zone clock) and a duration
// from a minimum to a maximum. The offers are held for a few minutes: each shows its start,
// end, resources and pool, the set counts down to its expiry, and Accept makes one a
// booking (its siblings are released at once). A NO shows the service's messages and
// offers to search again from the nearest later start that fits. With several platforms
// (GET /platforms) each offer names its own; "Stage a file before the start" sends a step.

import { ApiError } from "./api";
import { bookablePackages, type Context, resourcesLabel, zoneName } from "./context";
import { field, fill, h } from "./dom";
import { answerOffer, findOffers, isoMinutes, offerSet, platforms, type Offer, type OfferRequest, type OfferSet } from "./offers";
import { StageFileFields } from "./steps";
import { phaseBadge } from "./lifecycle";
import type { Zone } from "./zone";
import { HOUR, dateTimeValue, durationLabel, fromDateTimeValue, hoursBetween, iso, parse, rangeLabel, timeLabel } from "./time";

/** "4:59": minutes and seconds left. */
function clock(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

export class SlotFinder {
  readonly element: HTMLElement;
  private readonly packageSelect: HTMLSelectElement;
  private readonly poolSelect: HTMLSelectElement;
  private readonly from: HTMLInputElement;
  private readonly to: HTMLInputElement;
  private readonly shortest: HTMLInputElement;
  private readonly longest: HTMLInputElement;
  private readonly results: HTMLElement;
  private readonly stage: StageFileFields | null;
  private platformCount = 1; // with more than one, each offer says its platform
  private timer: number | undefined;
  private asked: { from: Date; to: Date } | null = null;
  private shown: { set: OfferSet; nearest: string | null } | null = null; // the answer on the page

  constructor(private readonly ctx: Context) {
    const may = ctx.me.may_book;
    this.packageSelect = h(
      "select",
      { id: "slot-package" },
      bookablePackages(ctx).map((p) => h("option", { value: p.name }, `${p.name} (${resourcesLabel(p.footprint)})`)),
    );
    this.poolSelect = h("select", { id: "slot-pool" });
    const start = new Date(Math.ceil(Date.now() / HOUR) * HOUR); // the next whole hour
    this.from = h("input", { type: "datetime-local", id: "slot-from", required: true, value: dateTimeValue(start, ctx.zone) });
    this.to = h("input", { type: "datetime-local", id: "slot-to", required: true, value: dateTimeValue(new Date(+start + 4 * HOUR), ctx.zone) });
    const most = may.max_hours === null ? null : String(may.max_hours);
    this.shortest = h("input", { type: "number", id: "slot-min", min: "0.25", max: most, step: "0.25", value: "1", required: true });
    this.longest = h("input", { type: "number", id: "slot-max", min: "0.25", max: most, step: "0.25", value: String(Math.min(2, may.max_hours ?? 2)) });
    this.results = h("div", { class: "offer-results", "aria-live": "polite" });
    const zoned = (text: string) => [text, " (", zoneName(ctx), ")"];
    this.stage = StageFileFields.for(ctx, "slot");
    const form = h(
      "form",
      { class: "find-slot inline-form", "aria-labelledby": "find-slot-heading" },
      h("h3", { id: "find-slot-heading" }, "Find me a slot"),
      h(
        "p",
        { class: "hint" },
        "Say when your session may start and how long it should last: the service offers the earliest starts in that window, ",
        "each as long as it can up to the longest you allow, and holds them for you for a few minutes.",
      ),
      field("Which package", this.packageSelect),
      field("Which pool", this.poolSelect),
      field(zoned("Start from"), this.from),
      field(zoned("Start by"), this.to),
      field("At least (hours)", this.shortest),
      field("At most (hours)", this.longest, may.max_hours === null ? "Empty: as long as the shortest." : `Your level: at most ${may.max_hours} hours.`),
      this.stage?.element, // offers then start once the file can be staged
      h("button", { type: "submit", class: "primary" }, "Find slots"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.find();
    });
    this.element = h("section", { class: "slot-finder", "aria-label": "Find me a slot" }, form, this.results);
    this.syncPools();
  }

  /** The pools to search: any reserved one (the service's default), or one of them. */
  syncPools(): void {
    const current = this.poolSelect.value;
    fill(
      this.poolSelect,
      h("option", { value: "" }, "any pool"),
      this.ctx.pools.filter((p) => p.kind === "reserved").map((p) => h("option", { value: p.name }, p.name)),
    );
    this.poolSelect.value = current;
  }

  /** The zone changed from `before`: the window keeps its moments, now on the new clock,
   * and the offers shown are redrawn on it. */
  zoneChanged(before: Zone): void {
    for (const input of [this.from, this.to]) {
      const moment = fromDateTimeValue(input.value, before);
      if (moment) input.value = dateTimeValue(moment, this.ctx.zone);
    }
    if (this.shown) this.show(this.shown.set, this.shown.nearest);
  }

  async load(): Promise<void> {
    this.syncPools();
    try {
      this.platformCount = (await platforms(this.ctx.api)).length;
    } catch (e) {
      this.ctx.messages.error(e);
    }
  }

  /** Read the form into a request, or say what to fix. */
  private request(): { request: OfferRequest; from: Date; to: Date } | null {
    const zone = this.ctx.zone;
    const from = fromDateTimeValue(this.from.value, zone);
    const to = fromDateTimeValue(this.to.value, zone);
    const shortest = Number(this.shortest.value);
    const longest = this.longest.value.trim() === "" ? null : Number(this.longest.value);
    const fail = (text: string) => {
      this.ctx.messages.error(new ApiError(400, text));
      return null;
    };
    if (!from || !to) return fail("Give the earliest and the latest start, a date and a time each.");
    if (to <= from) return fail("The latest start must be after the earliest.");
    if (!(shortest > 0)) return fail("Give the shortest length in hours, more than 0.");
    if (longest !== null && !(longest >= shortest)) return fail("The longest length must be at least the shortest.");
    let steps;
    try {
      steps = this.stage ? this.stage.steps() : [];
    } catch (e) {
      this.ctx.messages.error(e);
      return null;
    }
    const request: OfferRequest = {
      what: { package: this.packageSelect.value },
      when: { start: [`${iso(from)}/${iso(to)}`] },
      duration: longest === null ? { min: isoMinutes(shortest) } : { min: isoMinutes(shortest), max: isoMinutes(longest) },
    };
    if (this.poolSelect.value) request.pools = [this.poolSelect.value];
    if (steps.length) request.steps = steps;
    return { request, from, to };
  }

  async find(): Promise<void> {
    const asked = this.request();
    if (!asked) return;
    this.asked = { from: asked.from, to: asked.to };
    this.stopTimer();
    this.shown = null;
    fill(this.results, h("p", { class: "loading" }, "Asking for offers…"));
    try {
      const set = await findOffers(this.ctx.api, asked.request);
      this.ctx.messages.clear();
      this.show(set, set.nearest ?? null);
      await this.ctx.changed(); // the offers hold capacity: the grid shows it
    } catch (e) {
      fill(this.results);
      this.ctx.messages.error(e);
    }
  }

  private stopTimer(): void {
    if (this.timer !== undefined) window.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The set's messages, less the one that tells an API client how to accept (the
   * buttons here do that). */
  private messagesOf(set: OfferSet): string[] {
    return set.messages.filter((m) => !m.includes("POST /offersets/"));
  }

  private show(set: OfferSet, nearest: string | null): void {
    this.stopTimer();
    this.shown = { set, nearest };
    const zone = this.ctx.zone;
    const messages = this.messagesOf(set);
    const notes = messages.length ? h("ul", { class: "offer-messages" }, messages.map((m) => h("li", {}, m))) : null;
    if (set.result === "NO") {
      const again = nearest
        ? h("button", { type: "button", class: "search-again", onclick: () => this.searchFrom(parse(nearest)) }, `Search again from ${timeLabel(parse(nearest), zone)}`)
        : null;
      fill(
        this.results,
        h("article", { class: "offer-set result-no", "data-offer-set": String(set.id) },
          h("h4", {}, "No offer fits"),
          notes,
          again,
        ),
      );
      return;
    }
    const open = set.offers.some((o) => o.phase === "OFFERED");
    const countdown = h("p", { class: "countdown", role: "timer", "aria-live": "off" });
    const list = h("ol", { class: "offer-list" }, set.offers.map((o) => h("li", {}, this.offerCard(set, o, open))));
    const decline = open ? h("button", { type: "button", class: "decline", onclick: () => this.declineAll(set) }, "Decline these offers") : null;
    fill(
      this.results,
      h("article", { class: "offer-set result-yes", "data-offer-set": String(set.id) },
        h("h4", {}, `${set.offers.length} offer${set.offers.length === 1 ? "" : "s"}`),
        open ? countdown : null,
        notes,
        list,
        decline,
      ),
    );
    if (!open) return;
    const expires = parse(set.expires);
    const tick = () => {
      const left = +expires - Date.now();
      if (left > 0) {
        countdown.textContent = `Held for you for ${clock(left)} more (until ${timeLabel(expires, zone, true)}).`;
        return;
      }
      this.stopTimer();
      countdown.textContent = "These offers have expired: find a slot again.";
      for (const b of this.results.querySelectorAll<HTMLButtonElement>("button.accept, button.decline")) b.disabled = true;
    };
    tick();
    this.timer = window.setInterval(tick, 1000);
  }

  private offerCard(set: OfferSet, o: Offer, open: boolean): HTMLElement {
    const start = parse(o.start);
    const end = parse(o.end);
    const accept =
      open && o.phase === "OFFERED"
        ? h("button", { type: "button", class: "primary accept", onclick: () => this.accept(set, o) }, `Accept offer ${o.index + 1}`)
        : null;
    return h(
      "article",
      { class: `offer-card phase-${o.phase.toLowerCase()}`, "data-offer-index": String(o.index) },
      h("h5", {}, `Offer ${o.index + 1}: `, rangeLabel(start, end, this.ctx.zone), " ", phaseBadge(o.phase)),
      h("p", {}, `${durationLabel(hoursBetween(start, end))} · ${resourcesLabel(o.resources)} · pool ${o.pool}`,
        this.platformCount > 1 && o.platform ? h("span", { class: "offer-platform" }, ` · platform ${o.platform}`) : null),
      accept,
    );
  }

  /** Start a new search at `moment`, with a window as long as the one asked for. */
  private searchFrom(moment: Date): void {
    const span = this.asked ? +this.asked.to - +this.asked.from : 4 * HOUR;
    this.from.value = dateTimeValue(moment, this.ctx.zone);
    this.to.value = dateTimeValue(new Date(+moment + span), this.ctx.zone);
    void this.find();
  }

  private async refresh(set: OfferSet): Promise<void> {
    try {
      this.show(await offerSet(this.ctx.api, set.id), null);
    } catch (e) {
      this.ctx.messages.error(e);
    }
  }

  private async accept(set: OfferSet, o: Offer): Promise<void> {
    for (const b of this.results.querySelectorAll<HTMLButtonElement>("button")) b.disabled = true;
    try {
      const booking = await answerOffer(this.ctx.api, set.id, o.index, "ACCEPTED");
      const what = booking.package ? booking.package.name : "custom resources";
      this.ctx.messages.info(
        `Accepted offer ${o.index + 1}: booked ${what} on ${booking.pool} from ` +
          `${rangeLabel(parse(booking.start), parse(booking.end), this.ctx.zone)} (booking #${booking.id}); the other offers are released.`,
      );
      await this.refresh(set);
      await this.ctx.changed(booking);
    } catch (e) {
      this.ctx.messages.error(e);
      await this.refresh(set); // an offer that expired now reads EXPIRED
    }
  }

  private async declineAll(set: OfferSet): Promise<void> {
    for (const b of this.results.querySelectorAll<HTMLButtonElement>("button")) b.disabled = true;
    try {
      for (const o of set.offers) if (o.phase === "OFFERED") await answerOffer(this.ctx.api, set.id, o.index, "REJECTED");
      this.ctx.messages.info("Declined the offers; what they held is free again.");
    } catch (e) {
      this.ctx.messages.error(e);
    }
    await this.refresh(set);
    await this.ctx.changed();
  }
}
