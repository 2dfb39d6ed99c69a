// A time zone's calendar, read from the browser's own tz database through Intl: the wall
// clock a zone shows at an instant, and the instant at which a wall-clock time begins, so the
// calendar's days, weeks and months start at the zone's midnights, as the availability API
// cuts them with ?tz= (booking_service/engine/calendar.py: a period starts at the first
// instant whose wall clock shows it, so a day across a daylight-saving change has 23 or 25
// hours, and one whose midnight is skipped starts when the clock jumps). Hand-written on
// purpose: Intl carries the zone data, and these few readings are all the page needs, where a
// date library would be a runtime dependency for them.

const SECOND = 1000;
const DAY = 24 * 3600 * SECOND;

/** What a zone's clock shows: month 1..12, weekday 0 (Sunday)..6. */
export interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
}

// Names of UTC itself; the page writes them all "UTC", as it always has.
const UTC_NAMES = new Set(["UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"]);

// Chromium's Intl still names zones by CLDR's identifiers, some of them spellings the tz
// database has since renamed (it keeps the old ones as links, so the API takes both): the
// page shows and sends the current name. From tzdata's `backward` file.
const RENAMED: Record<string, string> = {
  "Africa/Asmera": "Africa/Asmara",
  "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
  "America/Catamarca": "America/Argentina/Catamarca",
  "America/Cordoba": "America/Argentina/Cordoba",
  "America/Godthab": "America/Nuuk",
  "America/Indianapolis": "America/Indiana/Indianapolis",
  "America/Jujuy": "America/Argentina/Jujuy",
  "America/Louisville": "America/Kentucky/Louisville",
  "America/Mendoza": "America/Argentina/Mendoza",
  "Asia/Calcutta": "Asia/Kolkata",
  "Asia/Katmandu": "Asia/Kathmandu",
  "Asia/Rangoon": "Asia/Yangon",
  "Asia/Saigon": "Asia/Ho_Chi_Minh",
  "Atlantic/Faeroe": "Atlantic/Faroe",
  "Europe/Kiev": "Europe/Kyiv",
  "Pacific/Enderbury": "Pacific/Kanton",
  "Pacific/Ponape": "Pacific/Pohnpei",
  "Pacific/Truk": "Pacific/Chuuk",
};

export class Zone {
  /** The IANA name, as the API's `tz` takes it ("UTC" for UTC under any of its names). */
  readonly name: string;
  readonly utc: boolean;
  private readonly format: Intl.DateTimeFormat | null;

  /** Throws RangeError for a name the browser does not know. */
  constructor(name: string) {
    this.utc = UTC_NAMES.has(name);
    this.name = this.utc ? "UTC" : (RENAMED[name] ?? name);
    this.format = this.utc
      ? null
      : new Intl.DateTimeFormat("en-US", {
          timeZone: this.name,
          hourCycle: "h23",
          year: "numeric",
          month: "numeric",
          day: "numeric",
          hour: "numeric",
          minute: "numeric",
          second: "numeric",
        });
  }

  static known(name: string): boolean {
    try {
      new Zone(name);
      return true;
    } catch {
      return false;
    }
  }

  /** The wall clock at `ms` (since the epoch), whole seconds, as milliseconds read as UTC. */
  private wallMs(ms: number): number {
    const t = Math.floor(ms / SECOND) * SECOND;
    if (!this.format) return t;
    const part: Record<string, number> = {};
    for (const p of this.format.formatToParts(t)) if (p.type !== "literal") part[p.type] = Number(p.value);
    return Date.UTC(part.year, part.month - 1, part.day, part.hour % 24, part.minute, part.second);
  }

  /** The zone's offset from UTC at `moment` in milliseconds (east positive). */
  offset(moment: Date | number): number {
    const ms = +moment;
    return this.wallMs(ms) - Math.floor(ms / SECOND) * SECOND;
  }

  wall(moment: Date): Wall {
    const w = new Date(this.wallMs(+moment));
    return {
      year: w.getUTCFullYear(),
      month: w.getUTCMonth() + 1,
      day: w.getUTCDate(),
      hour: w.getUTCHours(),
      minute: w.getUTCMinutes(),
      weekday: w.getUTCDay(),
    };
  }

  /** The first instant at which the clock shows this wall-clock time or later: the one
   * instant that shows it, the earlier of two in a repeated hour, or where the clock jumps
   * past it in a skipped one. Days and months beyond their range roll over (Date.UTC). */
  at(year: number, month: number, day: number, hour = 0, minute = 0): Date {
    const wall = Date.UTC(year, month - 1, day, hour, minute);
    if (this.utc) return new Date(wall);
    // No zone changes its offset twice within two days, so the offsets a day either side
    // are the candidates.
    const before = this.offset(wall - DAY);
    const after = this.offset(wall + DAY);
    const shows = [wall - before, wall - after].filter((t) => this.wallMs(t) === wall).sort((a, b) => a - b);
    if (shows.length) return new Date(shows[0]);
    // A gap: the clock reads earlier than `wall` at lo and later at hi; find the jump.
    let lo = wall - Math.max(before, after);
    let hi = wall - Math.min(before, after);
    while (hi - lo > SECOND) {
      const mid = lo + Math.floor((hi - lo) / SECOND / 2) * SECOND;
      if (this.wallMs(mid) >= wall) hi = mid;
      else lo = mid;
    }
    return new Date(hi);
  }

  dayStart(moment: Date): Date {
    const w = this.wall(moment);
    return this.at(w.year, w.month, w.day);
  }

  /** The start of the ISO week (from Monday) that holds `moment`. */
  weekStart(moment: Date): Date {
    const w = this.wall(moment);
    return this.at(w.year, w.month, w.day - ((w.weekday + 6) % 7));
  }

  monthStart(moment: Date): Date {
    const w = this.wall(moment);
    return this.at(w.year, w.month, 1);
  }

  /** The start of the day `days` after the one that holds `moment`. */
  addDays(moment: Date, days: number): Date {
    const w = this.wall(moment);
    return this.at(w.year, w.month, w.day + days);
  }

  /** The start of the month `months` after the one that holds `moment`. */
  addMonths(moment: Date, months: number): Date {
    const w = this.wall(moment);
    return this.at(w.year, w.month + months, 1);
  }

  /** "UTC+1", "UTC+5:30", "UTC-3", "UTC": the offset at `moment`. */
  offsetLabel(moment: Date): string {
    const minutes = Math.round(this.offset(moment) / 60_000);
    if (!minutes) return "UTC";
    const abs = Math.abs(minutes);
    const mm = abs % 60;
    return `UTC${minutes < 0 ? "-" : "+"}${Math.floor(abs / 60)}${mm ? `:${String(mm).padStart(2, "0")}` : ""}`;
  }
}

/** The browser's own zone, or UTC if it names none the page can use. */
export function browserZone(): Zone {
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return name && Zone.known(name) ? new Zone(name) : new Zone("UTC");
}

/** Every zone the browser knows (UTC first), for the zone selector. */
export function zoneNames(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  const names = intl.supportedValuesOf ? intl.supportedValuesOf("timeZone") : [];
  const current = new Set(names.filter((n) => !UTC_NAMES.has(n)).map((n) => RENAMED[n] ?? n));
  return ["UTC", ...[...current].sort()];
}
