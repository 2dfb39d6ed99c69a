// Preparation steps on the calendar (seed 004, docs/preparation.md): "Stage a file before
// the start" for the booking forms and Find me a slot, offered only where the service has a
// stage_file worker (GET /me's `preparation`); a booking card's steps with their states and
// the worker's messages; and why a booking failed, shown on its card.

import { ApiError, type Booking } from "./api";
import type { Context } from "./context";
import { field, h, uid } from "./dom";

/** A kind of step the service has a worker for, and what its quote is made of (GET /me). */
export interface PreparationKind {
  kind: string;
  quote_seconds: number;
  bytes_per_second: number | null;
  min_quote_seconds: number;
}

/** A booking's step as the API answers it (GET /bookings, GET /bookings/{id}). */
export interface Step {
  id: number;
  position: number;
  kind: string;
  params: Record<string, unknown>;
  quote_seconds: number;
  due: string;
  state: "PENDING" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED";
  message: string;
  started: string | null;
  finished: string | null;
}

/** A step to ask for: its kind and its parameters (stage_file: url, path, size, sha256). */
export type StepRequest = { kind: string } & Record<string, unknown>;

export const STAGE_FILE = "stage_file";
// Asked for a start this much after the quotes allow: the request's way to the service, and
// a browser clock a little behind the service's.
const MARGIN_MS = 10_000;
const SHA256 = /^[0-9a-fA-F]{64}$/;
// as the service checks a path (booking_service/steps.py): plain names, none hidden
const PART = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export function stageFileKind(ctx: Context): PreparationKind | null {
  return (ctx.me.preparation ?? []).find((k) => k.kind === STAGE_FILE) ?? null;
}

/** A step's quote in seconds, by the rule GET /me's `preparation` documents. */
function quote(kind: PreparationKind, size: number): number {
  const seconds = kind.quote_seconds + (kind.bytes_per_second ? size / kind.bytes_per_second : 0);
  return Math.max(kind.min_quote_seconds, Math.ceil(seconds));
}

/** "Stage a file before the start": a checkbox that opens the file's fields. Only built
 * where the service has a stage_file worker (`StageFileFields.for`). */
export class StageFileFields {
  readonly element: HTMLElement;
  private readonly on: HTMLInputElement;
  private readonly url: HTMLInputElement;
  private readonly path: HTMLInputElement;
  private readonly size: HTMLInputElement;
  private readonly sha256: HTMLInputElement;

  static for(ctx: Context, idPrefix: string): StageFileFields | null {
    const kind = stageFileKind(ctx);
    return kind ? new StageFileFields(kind, idPrefix) : null;
  }

  private constructor(
    private readonly kind: PreparationKind,
    idPrefix: string,
  ) {
    const id = (name: string) => `${idPrefix}-stage-${name}`;
    this.on = h("input", { type: "checkbox", id: id("on") });
    this.url = h("input", { type: "url", id: id("url"), autocomplete: "off", spellcheck: "false", placeholder: "https://data.example.org/sample.csv" });
    this.path = h("input", { type: "text", id: id("path"), autocomplete: "off", spellcheck: "false", placeholder: "inputs/sample.csv" });
    this.size = h("input", { type: "number", id: id("size"), min: "0", step: "1", inputmode: "numeric" });
    this.sha256 = h("input", { type: "text", id: id("sha256"), autocomplete: "off", spellcheck: "false", maxlength: "64", class: "sha256" });
    const details = h(
      "div",
      { class: "stage-details", hidden: true },
      field("File URL", this.url, "http or https; fetched by the service, not by your browser."),
      field("Save as (under saved/)", this.path, "A path in your data area, e.g. inputs/sample.csv."),
      field("Size (bytes)", this.size),
      field("SHA-256", this.sha256, "64 hex digits (sha256sum prints them): a file that differs is not used."),
    );
    this.on.addEventListener("change", () => {
      details.hidden = !this.on.checked;
    });
    this.element = h(
      "fieldset",
      { class: "stage-file" },
      h("legend", {}, "Preparation"),
      h("div", { class: "check" }, this.on, h("label", { for: this.on.id }, "Stage a file before the start")),
      details,
    );
  }

  /** The steps to send ([] when unticked); an ApiError(400) saying what to fix. */
  steps(): StepRequest[] {
    if (!this.on.checked) return [];
    const fail = (text: string): never => {
      throw new ApiError(400, text);
    };
    const url = this.url.value.trim();
    const path = this.path.value.trim();
    const size = Number(this.size.value);
    const sha256 = this.sha256.value.trim().toLowerCase();
    if (!/^https?:\/\/[^/]/i.test(url)) fail("Give the file's URL, starting http:// or https://.");
    if (!path || !path.split("/").every((part) => PART.test(part))) {
      fail("Give where to save the file as a relative path of plain names, such as inputs/sample.csv.");
    }
    if (this.size.value.trim() === "" || !Number.isInteger(size) || size < 0) fail("Give the file's size in bytes, a whole number.");
    if (!SHA256.test(sha256)) fail("Give the file's SHA-256: 64 hexadecimal digits.");
    return [{ kind: STAGE_FILE, url, path, size, sha256 }];
  }

  /** The earliest start the service accepts for these steps, from `now`. */
  earliestStart(now: Date, steps: StepRequest[]): Date {
    if (!steps.length) return now;
    const seconds = steps.reduce((sum, s) => sum + quote(this.kind, Number(s.size) || 0), 0);
    return new Date(+now + seconds * 1000 + MARGIN_MS);
  }
}

/** What a step does, in a few words: "stage_file: saved/inputs/a.csv from https://...". */
function stepWhat(step: Step): string {
  const p = step.params;
  if (step.kind === STAGE_FILE && typeof p.path === "string") {
    return `saved/${p.path} from ${String(p.url ?? "")}`;
  }
  return Object.keys(p).length ? JSON.stringify(p) : "";
}

/** A booking's steps in order, each with its kind, what it does, its state and the
 * worker's message. */
export function stepList(steps: Step[]): HTMLElement | null {
  if (!steps.length) return null;
  const heading = uid("steps");
  return h(
    "div",
    { class: "steps" },
    h("h4", { id: heading }, "Preparation"),
    h(
      "ol",
      { class: "step-list", "aria-labelledby": heading },
      steps.map((s) =>
        h(
          "li",
          { class: `step step-${s.state.toLowerCase()}`, "data-step-id": String(s.id) },
          h("span", { class: `badge step-state state-${s.state.toLowerCase()}`, title: "Step state" }, s.state),
          " ",
          h("span", { class: "step-kind" }, s.kind),
          " ",
          h("span", { class: "step-what" }, stepWhat(s)),
          s.message ? h("span", { class: "step-message" }, s.message) : null,
        ),
      ),
    ),
  );
}

/** Why the service ended a booking (FAILED: which step and why; or released unused), as
 * the card's first thing to read. */
export function failureNote(b: Booking): HTMLElement | null {
  if (!b.cancel_reason || (b.phase !== "FAILED" && b.phase !== "CANCELLED")) return null;
  const failed = b.phase === "FAILED";
  return h(
    "p",
    { class: failed ? "failure-note failed" : "failure-note" },
    h("strong", {}, failed ? "This booking failed: " : "Cancelled by the service: "),
    b.cancel_reason,
  );
}
