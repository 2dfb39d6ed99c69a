// The availability grid as the design notes draw it: one row per package, one column per
// block (hour, day, week or month), each cell saying whether one copy fits for the whole
// block (===), only at some moments (~~~) or never (---). Cells are buttons inside ARIA
// gridcells with a roving tabindex; a click, a drag along a row, or the keyboard selects.
// For a level that cannot book, every cell is shown and none can be selected.

import type { Block, Booking, Count, Grain, What } from "./api";
import { h } from "./dom";
import { blockLabel, parse } from "./time";
import type { Zone } from "./zone";

export type Fit = "fits" | "partial" | "none";

export interface Row {
  key: string; // the package's name, or "custom"
  label: string;
  detail: string; // e.g. "3 cores, 12 GiB"
  what: What;
  count(block: Block): Count;
}

export interface Selection {
  row: Row;
  from: number; // column indices, inclusive
  to: number;
  start: Date; // the first block's start (the caller clamps it to now)
  end: Date; // the last block's end
  fits: boolean; // every selected block fits throughout
}

export interface GridOptions {
  title: string;
  zone: Zone; // whose clock the labels read
  bookable: boolean; // false: the level cannot book, nothing is selectable
  grain: Grain;
  blocks: Block[];
  rows: Row[];
  mine: Booking[];
  now: Date;
  latestStart: Date | null; // the level's max_advance_days; null: no limit
  selection: { row: string; from: number; to: number } | null;
  focus: { row: number; col: number } | null;
  onSelect(selection: Selection | null, how: "pointer" | "keyboard"): void;
}

export function fitOf(count: Count): Fit {
  return count.min >= 1 ? "fits" : count.max >= 1 ? "partial" : "none";
}

const GRAIN_NAME: Record<Grain, string> = { hour: "hour", day: "day", week: "week", month: "month" };

export function describeFit(count: Count, grain: Grain): string {
  const block = GRAIN_NAME[grain];
  switch (fitOf(count)) {
    case "fits":
      return count.max > count.min
        ? `fits for the whole ${block}: ${count.min} side by side throughout, up to ${count.max} at times`
        : `fits for the whole ${block}: ${count.min} side by side`;
    case "partial":
      return `fits only part of the ${block}: up to ${count.max} at times, none at the busiest moment`;
    case "none":
      return `does not fit at any time in this ${block}`;
  }
}

export class Grid {
  readonly element: HTMLElement;
  private readonly buttons: HTMLButtonElement[][] = [];
  private readonly enabled: boolean[][] = [];
  private readonly cells: HTMLTableCellElement[][] = [];
  private readonly starts: Date[];
  private readonly ends: Date[];
  private readonly labels: { short: string; long: string }[]; // a column's, read once
  private active = { row: 0, col: 0 };
  private anchor: { row: number; col: number } | null = null;
  private selection: { row: number; from: number; to: number } | null = null;
  private dragging = false;
  private lastPointer = "mouse";

  constructor(private readonly opts: GridOptions) {
    this.starts = opts.blocks.map((b) => parse(b.start));
    this.ends = opts.blocks.map((b) => parse(b.end));
    this.labels = this.starts.map((start) => blockLabel(start, opts.grain, opts.zone));
    this.element = this.render();
    this.restore();
    window.addEventListener("pointerup", this.endDrag);
    window.addEventListener("pointercancel", this.endDrag);
  }

  /** Stop listening on the window (the grid is being replaced). */
  dispose(): void {
    window.removeEventListener("pointerup", this.endDrag);
    window.removeEventListener("pointercancel", this.endDrag);
  }

  focusActive(): void {
    this.buttons[this.active.row]?.[this.active.col]?.focus();
  }

  get focusPosition(): { row: number; col: number } {
    return { ...this.active };
  }

  clearSelection(): void {
    this.setSelection(null);
  }

  private render(): HTMLElement {
    const { blocks, rows, grain } = this.opts;
    const head = h(
      "tr",
      {},
      h("th", { scope: "col", class: "corner" }, "Package"),
      blocks.map((block, i) => {
        const label = this.labels[i];
        return h("th", { scope: "col", class: "col-head", title: label.long, "data-start": block.start }, h("span", { "aria-hidden": "true" }, label.short),
          h("span", { class: "visually-hidden" }, label.long));
      }),
    );
    const body = rows.map((row, r) => {
      this.buttons[r] = [];
      this.enabled[r] = [];
      this.cells[r] = [];
      const cells = blocks.map((block, c) => this.cell(row, r, block, c));
      return h(
        "tr",
        {},
        h("th", { scope: "row", class: "row-head" }, h("span", { class: "row-name" }, row.label), h("small", {}, row.detail)),
        cells,
      );
    });
    const table = h(
      "table",
      { role: "grid", class: `grid grain-${grain}`, "aria-label": this.opts.title, "aria-describedby": "grid-help" },
      h("thead", {}, head),
      h("tbody", {}, body),
    );
    table.addEventListener("keydown", this.onKey);
    return h("div", { class: "grid-scroll" }, table);
  }

  private cell(row: Row, r: number, block: Block, c: number): HTMLTableCellElement {
    const { grain, now, latestStart, bookable } = this.opts;
    const count = row.count(block);
    const fit = fitOf(count);
    const start = this.starts[c];
    const end = this.ends[c];
    const effectiveStart = start < now ? now : start;
    const past = end <= now;
    const tooFar = latestStart !== null && effectiveStart > latestStart;
    const enabled = bookable && !past && !tooFar;
    const mine = this.opts.mine.filter(
      (b) =>
        b.state === "booked" &&
        (b.package ? b.package.name === row.key : row.key === "custom") &&
        parse(b.start) < end &&
        parse(b.end) > start,
    );
    const parts = [`${row.label}, ${this.labels[c].long}: ${describeFit(count, grain)}`];
    if (mine.length) parts.push(`your booking${mine.length > 1 ? "s" : ""} ${mine.map((b) => `#${b.id}`).join(", ")}`);
    if (past) parts.push("over already");
    else if (!bookable) parts.push("your account level cannot book");
    else if (tooFar) parts.push("too far ahead for your account level");
    const label = parts.join("; ");
    const text = fit === "fits" ? String(count.min) : fit === "partial" ? `~${count.max}` : "–";
    const button = h(
      "button",
      {
        type: "button",
        class: `cell ${fit}${mine.length ? " mine" : ""}${enabled ? "" : " disabled"}`,
        tabindex: "-1",
        "aria-label": label,
        "aria-disabled": enabled ? null : "true",
        title: label,
        "data-row": row.key,
        "data-col": String(c),
        "data-fit": fit,
      },
      h("span", { "aria-hidden": "true" }, text),
    );
    button.addEventListener("pointerdown", (e) => this.onPointerDown(e, r, c));
    button.addEventListener("pointerenter", () => this.onPointerEnter(r, c));
    button.addEventListener("click", (e) => this.onClick(e, r, c));
    button.addEventListener("focus", () => this.setActive(r, c, false));
    this.buttons[r][c] = button;
    this.enabled[r][c] = enabled;
    const td = h("td", { role: "gridcell", "aria-selected": "false" }, button);
    this.cells[r][c] = td;
    return td;
  }

  /** The initial focus and selection: kept from the grid this one replaces, else the first open cell. */
  private restore(): void {
    const { rows, blocks, selection, focus } = this.opts;
    if (!rows.length || !blocks.length) return;
    if (focus && focus.row < rows.length && focus.col < blocks.length) {
      this.active = { ...focus };
    } else {
      const col = this.enabled[0].findIndex((on) => on);
      this.active = { row: 0, col: Math.max(col, 0) };
    }
    this.buttons[this.active.row][this.active.col].tabIndex = 0;
    if (selection) {
      const r = rows.findIndex((row) => row.key === selection.row);
      if (r >= 0 && selection.to < blocks.length) {
        this.anchor = { row: r, col: selection.from };
        this.paint({ row: r, from: selection.from, to: selection.to });
      }
    }
  }

  private setActive(row: number, col: number, focus = true): void {
    this.buttons[this.active.row][this.active.col].tabIndex = -1;
    this.active = { row, col };
    const button = this.buttons[row][col];
    button.tabIndex = 0;
    if (focus) {
      button.focus();
      button.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }

  private paint(selection: { row: number; from: number; to: number } | null): void {
    if (this.selection) {
      for (let c = this.selection.from; c <= this.selection.to; c++) {
        this.cells[this.selection.row][c].setAttribute("aria-selected", "false");
        this.buttons[this.selection.row][c].classList.remove("selected");
      }
    }
    this.selection = selection;
    if (selection) {
      for (let c = selection.from; c <= selection.to; c++) {
        this.cells[selection.row][c].setAttribute("aria-selected", "true");
        this.buttons[selection.row][c].classList.add("selected");
      }
    }
  }

  private setSelection(selection: { row: number; from: number; to: number } | null, how: "pointer" | "keyboard" = "keyboard"): void {
    this.paint(selection);
    if (!selection) {
      this.anchor = null;
      this.opts.onSelect(null, how);
      return;
    }
    const row = this.opts.rows[selection.row];
    let fits = true;
    for (let c = selection.from; c <= selection.to; c++) {
      if (fitOf(row.count(this.opts.blocks[c])) !== "fits") fits = false;
    }
    this.opts.onSelect(
      { row, from: selection.from, to: selection.to, start: this.starts[selection.from], end: this.ends[selection.to], fits },
      how,
    );
  }

  /** Select from the anchor to `col` in the anchor's row, stopping at closed cells. */
  private stretch(row: number, col: number): { row: number; from: number; to: number } {
    const anchor = this.anchor && this.anchor.row === row ? this.anchor.col : col;
    let from = Math.min(anchor, col);
    let to = Math.max(anchor, col);
    while (from < anchor && !this.enabled[row][from]) from++;
    while (to > anchor && !this.enabled[row][to]) to--;
    return { row, from, to };
  }

  private onPointerDown(e: PointerEvent, r: number, c: number): void {
    this.lastPointer = e.pointerType;
    if (e.pointerType !== "mouse" || e.button !== 0) return;
    e.preventDefault(); // no text selection while dragging
    this.setActive(r, c);
    if (!this.enabled[r][c]) return;
    if (e.shiftKey && this.anchor && this.anchor.row === r) {
      this.paint(this.stretch(r, c));
    } else {
      this.anchor = { row: r, col: c };
      this.paint({ row: r, from: c, to: c });
    }
    this.dragging = true;
  }

  private onPointerEnter(r: number, c: number): void {
    if (!this.dragging || !this.anchor || r !== this.anchor.row || !this.enabled[r][c]) return;
    this.setActive(r, c, false);
    this.paint(this.stretch(r, c));
  }

  private readonly endDrag = (): void => {
    if (!this.dragging) return;
    this.dragging = false;
    this.setSelection(this.selection, "pointer");
  };

  /** Touch and pen: a tap selects a block; a second tap in the same row stretches the
   * selection to it; a tap inside a longer selection starts over there. */
  private onClick(e: MouseEvent, r: number, c: number): void {
    if (this.lastPointer === "mouse" && e.detail > 0) return; // done by pointerdown/up
    if (e.detail === 0) return; // Enter or Space: handled in onKey
    this.setActive(r, c);
    if (!this.enabled[r][c]) return;
    const sel = this.selection;
    if (sel && sel.row === r && sel.from === sel.to && sel.from !== c) {
      this.setSelection(this.stretch(r, c), "pointer");
    } else {
      this.anchor = { row: r, col: c };
      this.setSelection({ row: r, from: c, to: c }, "pointer");
    }
  }

  private readonly onKey = (e: KeyboardEvent): void => {
    const rows = this.buttons.length;
    const cols = this.opts.blocks.length;
    const { row, col } = this.active;
    let next: { row: number; col: number } | null = null;
    switch (e.key) {
      case "ArrowRight":
        next = { row, col: Math.min(col + 1, cols - 1) };
        break;
      case "ArrowLeft":
        next = { row, col: Math.max(col - 1, 0) };
        break;
      case "ArrowDown":
        next = { row: Math.min(row + 1, rows - 1), col };
        break;
      case "ArrowUp":
        next = { row: Math.max(row - 1, 0), col };
        break;
      case "Home":
        next = { row: e.ctrlKey ? 0 : row, col: 0 };
        break;
      case "End":
        next = { row: e.ctrlKey ? rows - 1 : row, col: cols - 1 };
        break;
      case "Enter":
      case " ":
        e.preventDefault();
        if (!this.enabled[row][col]) return;
        if (e.shiftKey && this.anchor && this.anchor.row === row) {
          this.setSelection(this.stretch(row, col));
        } else {
          this.anchor = { row, col };
          this.setSelection({ row, from: col, to: col });
        }
        return;
      case "Escape":
        if (this.selection) {
          e.preventDefault();
          this.setSelection(null);
        }
        return;
      default:
        return;
    }
    e.preventDefault();
    this.setActive(next.row, next.col);
    // Shift+arrow along a row stretches the selection from where Enter (or a click) started it
    if (e.shiftKey && (e.key === "ArrowLeft" || e.key === "ArrowRight") && this.enabled[next.row][next.col]) {
      if (!this.anchor || this.anchor.row !== next.row) this.anchor = this.enabled[row][col] ? { row, col } : next;
      this.setSelection(this.stretch(next.row, next.col));
    }
  };
}
