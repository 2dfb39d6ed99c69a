// A booking's lifecycle on its card: the phase as a badge (OFFERED, ACCEPTED, RUNNING, ...
// seed 004), and a History toggle that fetches and lists every recorded transition (from,
// to, when, by whom and why), fresh each time it opens.

import type { Context } from "./context";
import { fill, h, uid } from "./dom";
import { bookingHistory, type Transition } from "./offers";
import { parse, timeLabel } from "./time";

/** The phase as a badge; its colour follows the kind of phase, its text says which. */
export function phaseBadge(phase: string): HTMLElement {
  return h("span", { class: `badge phase phase-${phase.toLowerCase()}`, title: "Lifecycle phase" }, phase);
}

/** The transitions, oldest first: a list rather than a table, to fit beside the calendar. */
function historyList(ctx: Context, id: number, transitions: Transition[]): HTMLElement {
  return h(
    "ol",
    { class: "history-list", "aria-label": `History of booking #${id}` },
    transitions.map((t) =>
      h(
        "li",
        { "data-to": t.to },
        h("span", { class: "move" }, t.from ? phaseBadge(t.from) : "(new)", h("span", { "aria-label": "to" }, " → "), phaseBadge(t.to)),
        h("span", { class: "when" }, `${timeLabel(parse(t.at), ctx.zone, true)}, by ${t.by}`),
        h("span", { class: "cause" }, t.cause),
      ),
    ),
  );
}

/** A "History" button and the region it opens under it, for booking `id`. */
export function historyToggle(ctx: Context, id: number): HTMLElement {
  const region = h("div", { class: "history", id: uid("history"), hidden: true });
  const button = h("button", { type: "button", class: "history-toggle", "aria-expanded": "false", "aria-controls": region.id }, "History");
  button.addEventListener("click", async () => {
    if (button.getAttribute("aria-expanded") === "true") {
      button.setAttribute("aria-expanded", "false");
      region.hidden = true;
      return;
    }
    button.setAttribute("aria-expanded", "true");
    region.hidden = false;
    fill(region, h("p", { class: "loading" }, "Loading the history…"));
    try {
      const booking = await bookingHistory(ctx.api, id);
      fill(region, booking.transitions.length ? historyList(ctx, id, booking.transitions) : h("p", {}, "No transitions recorded."));
    } catch (e) {
      fill(region);
      ctx.messages.error(e);
    }
  });
  return h("div", { class: "lifecycle" }, button, region);
}
