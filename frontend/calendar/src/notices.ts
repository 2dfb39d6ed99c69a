// The user's notices beside the calendar: what the booking service tells them about their
// bookings (about to start or end, offers about to expire, failed, released, a free
// walk-in place), unread first; "Mark read" marks one read, and the list asks again
// every minute and whenever bookings change.

import type { Notice } from "./api";
import type { Context } from "./context";
import { fill, h } from "./dom";
import { dateLabel, parse, timeLabel } from "./time";

const POLL_MS = 60_000;

export class NoticesPanel {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly count: HTMLElement;
  private timer = 0;

  constructor(private readonly ctx: Context) {
    this.count = h("span", { class: "notice-count" });
    this.list = h("div", { class: "notice-list", "aria-live": "polite" });
    this.element = h("div", { class: "notices" }, h("h2", {}, "Notices ", this.count), this.list);
  }

  private when(text: string): string {
    const moment = parse(text);
    return `${dateLabel(moment, this.ctx.zone)} ${timeLabel(moment, this.ctx.zone, true)}`;
  }

  private row(n: Notice): HTMLElement {
    const unread = n.read === null;
    const mark = h("button", { type: "button", class: "mark-read" }, "Mark read");
    mark.addEventListener("click", async () => {
      try {
        await this.ctx.api.markNotice(this.ctx.me.name, n.id, true);
        await this.load();
      } catch (e) {
        this.ctx.messages.error(e);
      }
    });
    return h(
      "li",
      { class: `notice kind-${n.kind}${unread ? " unread" : ""}`, "data-notice-id": String(n.id) },
      h("time", { datetime: n.created }, this.when(n.created)),
      " ",
      h("span", { class: "notice-text" }, n.text),
      unread ? mark : null,
    );
  }

  async load(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const answer = await this.ctx.api.notices(this.ctx.me.name);
      this.count.textContent = answer.unread ? `(${answer.unread} unread)` : "";
      fill(
        this.list,
        answer.notices.length
          ? h("ul", {}, answer.notices.slice(0, 20).map((n) => this.row(n)))
          : h("p", {}, "Nothing new about your bookings."),
      );
    } catch (e) {
      this.ctx.messages.error(e);
    }
    this.timer = window.setTimeout(() => void this.load(), POLL_MS);
  }
}
