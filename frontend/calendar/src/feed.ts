// "Subscribe in your calendar app": the user's private iCalendar feed (GET, POST and
// DELETE /me/ical). The service keeps only a hash of the feed's token, so its address is
// shown once, right after it is made or renewed, with a Copy button; after a reload the
// panel can only say that a feed is on, and renewing is how to get an address again.

import type { CalendarFeed, NewCalendarFeed } from "./api";
import type { Context } from "./context";
import { fill, h, uid } from "./dom";
import { parse, timeLabel } from "./time";

export class FeedPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;

  constructor(private readonly ctx: Context) {
    const headingId = uid("feed");
    this.body = h("div", { class: "feed-body" });
    this.element = h(
      "section",
      { class: "calendar-feed", "aria-labelledby": headingId },
      h("h2", { id: headingId }, "Subscribe in your calendar app"),
      h(
        "p",
        { class: "hint" },
        "A private address of your bookings for Google Calendar, Apple Calendar, Outlook or Thunderbird " +
          "(“subscribe” or “add calendar from URL”). It needs no login: anyone who has it sees your bookings.",
      ),
      this.body,
    );
  }

  async load(): Promise<void> {
    this.show(this.ctx.me.ical);
  }

  private show(feed: CalendarFeed, made?: NewCalendarFeed): void {
    const actions = h("div", { class: "actions" });
    const make = h("button", { type: "button" }, feed.active ? "Renew address" : "Make a feed address");
    make.addEventListener("click", () => void this.renew());
    if (!feed.active) {
      fill(this.body, h("p", { class: "feed-state" }, "You have no calendar feed."), actions);
      fill(actions, make);
      return;
    }
    const revoke = h("button", { type: "button", class: "danger" }, "Revoke…");
    const showActions = () => fill(actions, make, revoke);
    revoke.addEventListener("click", () => {
      const yes = h("button", { type: "button", class: "danger" }, "Yes, revoke it");
      const no = h("button", { type: "button" }, "Keep it");
      yes.addEventListener("click", () => void this.revoke());
      no.addEventListener("click", () => {
        showActions();
        revoke.focus();
      });
      fill(actions, h("p", { class: "confirm" }, "Revoke the feed? Calendar apps stop getting your bookings."), yes, no);
      no.focus();
    });
    showActions();
    const since = feed.created ? ` since ${timeLabel(parse(feed.created), this.ctx.zone)}` : "";
    const state = h("p", { class: "feed-state" }, `Your calendar feed is on${since}.`);
    if (!made) {
      fill(
        this.body,
        state,
        h("p", { class: "hint" }, "Its address is shown only when it is made. Lost it? Renew: the old address stops working."),
        actions,
      );
      return;
    }
    const urlId = uid("feed-url");
    const url = h("input", { type: "text", id: urlId, readonly: true, value: made.url, spellcheck: "false" });
    const copy = h("button", { type: "button" }, "Copy");
    copy.addEventListener("click", () => void this.copy(url));
    fill(
      this.body,
      state,
      h(
        "div",
        { class: "field feed-url" },
        h("label", { for: urlId }, "Your feed's address"),
        h("div", { class: "copy-row" }, url, copy),
        h("small", { class: "hint" }, "Shown only now: copy it into your calendar app. Treat it like a password."),
      ),
      actions,
    );
    url.focus();
    url.select();
  }

  private async renew(): Promise<void> {
    try {
      const made = await this.ctx.api.renewFeed();
      this.ctx.me.ical = { active: made.active, created: made.created };
      this.ctx.messages.info("Your calendar feed has a new address; any older one stopped working.");
      this.show(made, made);
    } catch (e) {
      this.ctx.messages.error(e);
    }
  }

  private async revoke(): Promise<void> {
    try {
      this.ctx.me.ical = await this.ctx.api.revokeFeed();
      this.ctx.messages.info("Your calendar feed is revoked; its address no longer works.");
      this.show(this.ctx.me.ical);
    } catch (e) {
      this.ctx.messages.error(e);
    }
  }

  private async copy(input: HTMLInputElement): Promise<void> {
    try {
      await navigator.clipboard.writeText(input.value);
      this.ctx.messages.info("The feed's address is copied.");
    } catch {
      // no clipboard permission (or not a secure context): leave it selected to copy by hand
      input.focus();
      input.select();
      this.ctx.messages.info("Press Ctrl+C (or ⌘C) to copy the selected address.");
    }
  }
}
