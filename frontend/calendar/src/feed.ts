// "Subscribe in your calendar app": the user's private iCalendar feed (POST and DELETE
// /me/ical; its address is `ical_url` in GET /me). The service derives the address again
// whenever asked (from the feed's nonce and its own secret), so the panel shows it, with
// a Copy button, whenever the feed is on; renewing gives a new one, revoking none.

import type { CalendarFeed } from "./api";
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
    this.show(this.ctx.me.ical, this.ctx.me.ical_url);
  }

  /** `url`: the feed's address (null: none to show, the feed is off); `focus` selects it,
   * right after it is made. */
  private show(feed: CalendarFeed, url: string | null, focus = false): void {
    const actions = h("div", { class: "actions" });
    const make = h("button", { type: "button" }, feed.active ? "Renew address" : "Make a feed address");
    make.addEventListener("click", () => void this.renew());
    if (!feed.active || url === null) {
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
    const urlId = uid("feed-url");
    const address = h("input", { type: "text", id: urlId, readonly: true, value: url, spellcheck: "false" });
    const copy = h("button", { type: "button" }, "Copy");
    copy.addEventListener("click", () => void this.copy(address));
    fill(
      this.body,
      state,
      h(
        "div",
        { class: "field feed-url" },
        h("label", { for: urlId }, "Your feed's address"),
        h("div", { class: "copy-row" }, address, copy),
        h(
          "small",
          { class: "hint" },
          "Copy it into your calendar app. Treat it like a password; shared it by mistake? Renew it.",
        ),
      ),
      actions,
    );
    if (focus) {
      address.focus();
      address.select();
    }
  }

  private async renew(): Promise<void> {
    try {
      const made = await this.ctx.api.renewFeed();
      this.ctx.me.ical = { active: made.active, created: made.created };
      this.ctx.me.ical_url = made.url;
      this.ctx.messages.info("Your calendar feed has a new address; any older one stopped working.");
      this.show(this.ctx.me.ical, made.url, true);
    } catch (e) {
      this.ctx.messages.error(e);
    }
  }

  private async revoke(): Promise<void> {
    try {
      const revoked = await this.ctx.api.revokeFeed();
      this.ctx.me.ical = { active: revoked.active, created: revoked.created };
      this.ctx.me.ical_url = revoked.url;
      this.ctx.messages.info("Your calendar feed is revoked; its address no longer works.");
      this.show(this.ctx.me.ical, revoked.url);
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
