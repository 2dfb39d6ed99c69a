// What every panel shares: the API, who the user is, the pools and packages, the time zone
// the page shows, the messages, and a way to tell the others that bookings changed.

import type { Api, Booking, Me, Package, Pool, Resources } from "./api";
import { h } from "./dom";
import type { Messages } from "./messages";
import type { Zone } from "./zone";

export interface Context {
  api: Api;
  me: Me;
  messages: Messages;
  pools: Pool[];
  packages: Package[]; // newest version of each
  zone: Zone; // every time on the page is on this zone's clock; the selector changes it
  hub: string; // the hub's prefix, e.g. "/hub/"
  /** Reload what shows bookings (the grid, the lists) after one changed. */
  changed(booking?: Booking): Promise<void>;
}

export function resourcesLabel(r: Resources): string {
  return `${+r.cores.toFixed(3)} core${r.cores === 1 ? "" : "s"}, ${+r.memory_gib.toFixed(3)} GiB`;
}

// Largest footprint first, as the design notes draw them.
const bySize = (a: Package, b: Package) =>
  b.footprint.cores - a.footprint.cores || b.footprint.memory_gib - a.footprint.memory_gib || a.name.localeCompare(b.name);

/** The packages this user may book, largest first. */
export function bookablePackages(ctx: Context): Package[] {
  const allowed = ctx.me.may_book.packages;
  return ctx.packages.filter((p) => allowed === null || allowed.includes(p.name)).sort(bySize);
}

/** The grid's rows: the packages the level may book, or, for a level that may book none (a
 * trial), every package, to show what is free. */
export function shownPackages(ctx: Context): Package[] {
  return canBook(ctx) ? bookablePackages(ctx) : [...ctx.packages].sort(bySize);
}

/** The zone's name in running text; the page rewrites every one when the zone changes. */
export function zoneName(ctx: Context): HTMLElement {
  return h("span", { class: "zone-name" }, ctx.zone.name);
}

/** Whether this user's level may book anything at all (a trial level may not). */
export function canBook(ctx: Context): boolean {
  return bookablePackages(ctx).length > 0 || ctx.me.may_book.custom;
}

/** One sentence on what the level allows. */
export function allowanceLabel(ctx: Context): string {
  const { me } = ctx;
  const may = me.may_book;
  if (me.admin) return "You are a booking admin: you may book any package or resources, for any length, at any time.";
  const level = me.level_name ?? `level ${me.level}`;
  if (!canBook(ctx)) {
    return `Your account level (${level}) cannot book ahead; you can still see what is free.`;
  }
  const what = [may.packages?.length ? `the packages ${may.packages.join(", ")}` : "", may.custom ? "custom resources" : ""]
    .filter(Boolean)
    .join(" or ");
  return `Your account level (${level}) may book ${what}, for at most ${may.max_hours} hours, starting within ${may.max_advance_days} days.`;
}
