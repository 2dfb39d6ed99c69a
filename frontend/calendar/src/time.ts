// Calendar arithmetic in UTC, as the API cuts blocks (hours, days, ISO weeks from
// Monday, months from the 1st), and the labels people read.

import type { Grain } from "./api";

export const HOUR = 3600_000;
export const DAY = 24 * HOUR;

/** The API's form: whole seconds, UTC, with Z. */
export function iso(moment: Date): string {
  return moment.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function parse(text: string): Date {
  return new Date(text);
}

export function dayStart(moment: Date): Date {
  return new Date(Date.UTC(moment.getUTCFullYear(), moment.getUTCMonth(), moment.getUTCDate()));
}

export function weekStart(moment: Date): Date {
  const day = dayStart(moment);
  const sinceMonday = (day.getUTCDay() + 6) % 7;
  return new Date(day.getTime() - sinceMonday * DAY);
}

export function monthStart(moment: Date): Date {
  return new Date(Date.UTC(moment.getUTCFullYear(), moment.getUTCMonth(), 1));
}

export function addDays(moment: Date, days: number): Date {
  return new Date(moment.getTime() + days * DAY);
}

export function addHours(moment: Date, hours: number): Date {
  return new Date(moment.getTime() + hours * HOUR);
}

export function addMonths(moment: Date, months: number): Date {
  return new Date(Date.UTC(moment.getUTCFullYear(), moment.getUTCMonth() + months, moment.getUTCDate()));
}

export function hoursBetween(start: Date, end: Date): number {
  return (end.getTime() - start.getTime()) / HOUR;
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/** "Tue 4 Mar" */
export function dateLabel(moment: Date): string {
  return `${WEEKDAYS[moment.getUTCDay()]} ${moment.getUTCDate()} ${MONTHS[moment.getUTCMonth()]}`;
}

/** "Tue 4 Mar 2030, 09:00 UTC", or without the year if `short`. */
export function timeLabel(moment: Date, short = false): string {
  const year = short ? "" : ` ${moment.getUTCFullYear()}`;
  return `${dateLabel(moment)}${year}, ${pad(moment.getUTCHours())}:${pad(moment.getUTCMinutes())} UTC`;
}

/** "Tue 4 Mar, 09:00 to 12:00 UTC" or across days "Tue 4 Mar, 09:00 to Wed 5 Mar, 12:00 UTC". */
export function rangeLabel(start: Date, end: Date): string {
  const hm = (d: Date) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  if (dayStart(start).getTime() === dayStart(end).getTime()) {
    return `${dateLabel(start)}, ${hm(start)} to ${hm(end)} UTC`;
  }
  return `${dateLabel(start)}, ${hm(start)} to ${dateLabel(end)}, ${hm(end)} UTC`;
}

export function isoWeek(moment: Date): number {
  // ISO 8601: weeks start on Monday, and week 1 holds the year's first Thursday
  const thursday = addDays(dayStart(moment), 3 - ((moment.getUTCDay() + 6) % 7));
  const jan4 = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 4));
  return 1 + Math.round(((thursday.getTime() - jan4.getTime()) / DAY - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
}

/** A column header: short (what the cell row shows) and long (what a screen reader says). */
export function blockLabel(start: Date, grain: Grain): { short: string; long: string } {
  switch (grain) {
    case "hour":
      return { short: pad(start.getUTCHours()), long: `${dateLabel(start)} ${pad(start.getUTCHours())}:00 UTC` };
    case "day":
      return {
        short: `${WEEKDAYS[start.getUTCDay()]} ${start.getUTCDate()}`,
        long: dateLabel(start),
      };
    case "week":
      return { short: `${MONTHS[start.getUTCMonth()]}${pad(start.getUTCDate())}`, long: `week ${isoWeek(start)} from ${dateLabel(start)}` };
    case "month":
      return {
        short: MONTHS[start.getUTCMonth()],
        long: `${MONTHS[start.getUTCMonth()]} ${start.getUTCFullYear()}`,
      };
  }
}

/** A date input's value (YYYY-MM-DD) for a UTC day, and back. */
export function dateValue(moment: Date): string {
  return iso(moment).slice(0, 10);
}

export function fromDateValue(value: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : null;
}

/** A datetime-local input's value (YYYY-MM-DDTHH:MM) read as UTC, and back. */
export function dateTimeValue(moment: Date): string {
  return iso(moment).slice(0, 16);
}

export function fromDateTimeValue(value: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value);
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5])) : null;
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
