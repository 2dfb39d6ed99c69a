// Times as people read them, in the zone the page shows (zone.ts does the zone's calendar
// arithmetic), and as the API takes them (UTC, whole seconds, with Z).

import type { Grain } from "./api";
import type { Wall, Zone } from "./zone";

export const HOUR = 3600_000;
export const DAY = 24 * HOUR;

/** The API's form: whole seconds, UTC, with Z. */
export function iso(moment: Date): string {
  return moment.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function parse(text: string): Date {
  return new Date(text);
}

export function addHours(moment: Date, hours: number): Date {
  return new Date(moment.getTime() + hours * HOUR);
}

export function hoursBetween(start: Date, end: Date): number {
  return (end.getTime() - start.getTime()) / HOUR;
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

const wallDate = (w: Wall) => `${WEEKDAYS[w.weekday]} ${w.day} ${MONTHS[w.month - 1]}`;
const wallTime = (w: Wall) => `${pad(w.hour)}:${pad(w.minute)}`;
const sameDay = (a: Wall, b: Wall) => a.year === b.year && a.month === b.month && a.day === b.day;

/** "Tue 4 Mar", the date in the zone. */
export function dateLabel(moment: Date, zone: Zone): string {
  return wallDate(zone.wall(moment));
}

/** "Tue 4 Mar 2030, 09:00 UTC" (or "... Europe/London"), without the year if `short`. */
export function timeLabel(moment: Date, zone: Zone, short = false): string {
  const w = zone.wall(moment);
  return `${wallDate(w)}${short ? "" : ` ${w.year}`}, ${wallTime(w)} ${zone.name}`;
}

/** "Tue 4 Mar, 09:00 to 12:00 UTC" or across days "Tue 4 Mar, 09:00 to Wed 5 Mar, 12:00 UTC". */
export function rangeLabel(start: Date, end: Date, zone: Zone): string {
  const [a, b] = [zone.wall(start), zone.wall(end)];
  if (sameDay(a, b)) return `${wallDate(a)}, ${wallTime(a)} to ${wallTime(b)} ${zone.name}`;
  return `${wallDate(a)}, ${wallTime(a)} to ${wallDate(b)}, ${wallTime(b)} ${zone.name}`;
}

/** The ISO 8601 week number of a wall-clock date (weeks from Monday; week 1 holds the
 * year's first Thursday). */
export function isoWeek(w: Wall): number {
  const date = Date.UTC(w.year, w.month - 1, w.day);
  const thursday = new Date(date + (3 - ((w.weekday + 6) % 7)) * DAY);
  const jan4 = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 4));
  return 1 + Math.round(((thursday.getTime() - jan4.getTime()) / DAY - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
}

/** A column header: short (what the cell row shows) and long (what a screen reader says).
 * An hour next to a change of the zone's offset says the offset, so the two blocks of a
 * repeated hour can be told apart. */
export function blockLabel(start: Date, grain: Grain, zone: Zone): { short: string; long: string } {
  const w = zone.wall(start);
  switch (grain) {
    case "hour": {
      const offset = zone.offset(start);
      const changes = zone.offset(addHours(start, -1)) !== offset || zone.offset(addHours(start, 1)) !== offset;
      const suffix = changes ? `${zone.name} (${zone.offsetLabel(start)})` : zone.name;
      return { short: pad(w.hour), long: `${wallDate(w)} ${wallTime(w)} ${suffix}` };
    }
    case "day":
      return { short: `${WEEKDAYS[w.weekday]} ${w.day}`, long: wallDate(w) };
    case "week":
      return { short: `${MONTHS[w.month - 1]}${pad(w.day)}`, long: `week ${isoWeek(w)} from ${wallDate(w)}` };
    case "month":
      return { short: MONTHS[w.month - 1], long: `${MONTHS[w.month - 1]} ${w.year}` };
  }
}

/** A date input's value (YYYY-MM-DD) for the zone's day of `moment`, and back to the
 * start of that day in the zone. */
export function dateValue(moment: Date, zone: Zone): string {
  const w = zone.wall(moment);
  return `${String(w.year).padStart(4, "0")}-${pad(w.month)}-${pad(w.day)}`;
}

export function fromDateValue(value: string, zone: Zone): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  return m ? zone.at(+m[1], +m[2], +m[3]) : null;
}

/** A datetime-local input's value (YYYY-MM-DDTHH:MM) on the zone's clock, and back; a time
 * the clock skips (a daylight-saving gap) reads as the moment the clock jumps past it. */
export function dateTimeValue(moment: Date, zone: Zone): string {
  return `${dateValue(moment, zone)}T${wallTime(zone.wall(moment))}`;
}

export function fromDateTimeValue(value: string, zone: Zone): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value);
  return m ? zone.at(+m[1], +m[2], +m[3], +m[4], +m[5]) : null;
}

/** "3 hours", "1 day and 2 hours" */
export function durationLabel(hours: number): string {
  const days = Math.floor(hours / 24);
  const rest = Math.round((hours - days * 24) * 100) / 100;
  const parts: string[] = [];
  if (days) parts.push(`${days} day${days === 1 ? "" : "s"}`);
  if (rest || !days) parts.push(`${rest} hour${rest === 1 ? "" : "s"}`);
  return parts.join(" and ");
}
