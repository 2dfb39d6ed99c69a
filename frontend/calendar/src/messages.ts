// Two live regions, present from the start so screen readers watch them: a polite one
// for what worked, and an assertive one (role=alert) for the API's error messages. A
// Dismiss button (outside the regions, so it is not read out with them) clears both.

import { ApiError } from "./api";
import { h } from "./dom";

export class Messages {
  readonly element: HTMLElement;
  private readonly status: HTMLElement;
  private readonly alert: HTMLElement;
  private readonly dismiss: HTMLButtonElement;

  constructor() {
    this.status = h("div", { class: "message status", role: "status", "aria-live": "polite", "aria-atomic": "true" });
    this.alert = h("div", { class: "message error", role: "alert", "aria-live": "assertive", "aria-atomic": "true" });
    this.dismiss = h("button", { type: "button", class: "dismiss", hidden: true, onclick: () => this.clear() }, "Dismiss");
    this.element = h("div", { class: "messages empty" }, this.alert, this.status, this.dismiss);
  }

  info(text: string): void {
    this.show(this.status, text);
  }

  error(error: unknown): void {
    const text =
      error instanceof ApiError
        ? error.message
        : `Something went wrong in the calendar: ${error instanceof Error ? error.message : String(error)}`;
    this.show(this.alert, text);
    if (!(error instanceof ApiError)) console.error(error);
  }

  clear(): void {
    this.status.textContent = "";
    this.alert.textContent = "";
    this.dismiss.hidden = true;
    this.element.classList.add("empty");
  }

  private show(region: HTMLElement, text: string): void {
    this.clear();
    region.textContent = text;
    this.dismiss.hidden = false;
    this.element.classList.remove("empty");
  }
}
