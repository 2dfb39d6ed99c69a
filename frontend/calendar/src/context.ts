// What every panel shares: the API, who the user is, the pools and packages, the
// messages, and a way to tell the others that bookings changed.

import type { Api, Booking, Me, Package, Pool, Resources } from "./api";
import type { Messages } from "./messages";

export interface Context {
  api: Api;
  me: Me;
  messages: Messages;
  pools: Pool[];
  packages: Package[]; // newest version of each
  /** Reload what shows bookings (the grid, the lists) after one changed. */
  changed(booking?: Booking): Promise<void>;
}

export function resourcesLabel(r: Resources): string {
  return `${+r.cores.toFixed(3)} core${r.cores === 1 ? "" : "s"}, ${+r.memory_gib.toFixed(3)} GiB`;
}

/** The packages this user may book, largest footprint first (as the design notes draw them). */
export function bookablePackages(ctx: Context): Package[] {
  const allowed = ctx.me.may_book.packages;
  return ctx.packages
    .filter((p) => allowed === null || allowed.includes(p.name))
    .sort((a, b) => b.footprint.cores - a.footprint.cores || b.footprint.memory_gib - a.footprint.memory_gib || a.name.localeCompare(b.name));
}

/** One sentence on what the level allows. */
export function allowanceLabel(ctx: Context): string {
  const { me } = ctx;
  const may = me.may_book;
  if (me.admin) return "You are a booking admin: you may book any package or resources, for any length, at any time.";
  const level = me.level_name ?? `level ${me.level}`;
  if (!may.packages?.length && !may.custom) {
    return `Your account level (${level}) cannot book ahead; you can still see what is free.`;
  }
  const what = [may.packages?.length ? `the packages ${may.packages.join(", ")}` : "", may.custom ? "custom resources" : ""]
    .filter(Boolean)
    .join(" or ");
  return `Your account level (${level}) may book ${what}, for at most ${may.max_hours} hours, starting within ${may.max_advance_days} days.`;
}
