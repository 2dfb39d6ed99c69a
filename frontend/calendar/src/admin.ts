// Booking admins' views: every pool's capacity over time as a timeline (one lane per
// grant, and the total underneath, like Blazar's host calendar), forms to add capacity
// and pools, and the package templates with all their versions.

import { ApiError, type Grant, type Package, type Pool } from "./api";
import { type Context, resourcesLabel, zoneName } from "./context";
import { field, fill, h } from "./dom";
import { DAY, dateLabel, dateTimeValue, dateValue, fromDateTimeValue, fromDateValue, iso, parse, rangeLabel } from "./time";

const SPANS: [number, string][] = [
  [7, "a week"],
  [30, "30 days"],
  [90, "90 days"],
  [365, "a year"],
];

interface Segment {
  start: Date;
  end: Date;
  cores: number;
  memory_gib: number;
}

/** The pool's total capacity as constant pieces over [start, end): the sum of the grants. */
export function totals(grants: Grant[], start: Date, end: Date): Segment[] {
  const cuts = new Set<number>([start.getTime(), end.getTime()]);
  for (const g of grants) {
    for (const t of [parse(g.start).getTime(), parse(g.end).getTime()]) {
      if (t > start.getTime() && t < end.getTime()) cuts.add(t);
    }
  }
  const times = [...cuts].sort((a, b) => a - b);
  const pieces: Segment[] = [];
  for (let i = 0; i + 1 < times.length; i++) {
    const [a, b] = [times[i], times[i + 1]];
    let cores = 0;
    let memory = 0;
    for (const g of grants) {
      if (parse(g.start).getTime() <= a && parse(g.end).getTime() >= b) {
        cores += g.cores;
        memory += g.memory_gib;
      }
    }
    const last = pieces[pieces.length - 1];
    if (last && last.cores === cores && last.memory_gib === memory) last.end = new Date(b);
    else pieces.push({ start: new Date(a), end: new Date(b), cores, memory_gib: memory });
  }
  return pieces;
}

/** Lanes so that overlapping grants never share one: greedy, by start. */
function lanes(grants: Grant[]): Grant[][] {
  const result: Grant[][] = [];
  for (const g of [...grants].sort((a, b) => parse(a.start).getTime() - parse(b.start).getTime())) {
    const lane = result.find((l) => parse(l[l.length - 1].end) <= parse(g.start));
    if (lane) lane.push(g);
    else result.push([g]);
  }
  return result;
}

export class PoolsPanel {
  readonly element: HTMLElement;
  private readonly timeline: HTMLElement;
  private readonly from: HTMLInputElement;
  private readonly span: HTMLSelectElement;
  private readonly capacityPool: HTMLSelectElement;

  constructor(private readonly ctx: Context) {
    const today = ctx.zone.dayStart(new Date());
    this.from = h("input", { type: "date", id: "timeline-from", value: dateValue(today, ctx.zone), required: true });
    this.span = h(
      "select",
      { id: "timeline-span" },
      SPANS.map(([days, label]) => h("option", { value: String(days), selected: days === 30 }, label)),
    );
    const range = h(
      "form",
      { class: "inline-form", "aria-label": "Timeline range" },
      field("From", this.from),
      field("Show", this.span),
      h("button", { type: "submit" }, "Show"),
    );
    range.addEventListener("submit", (e) => {
      e.preventDefault();
      this.load();
    });
    this.timeline = h("div", { class: "timeline", "aria-busy": "false" });
    this.capacityPool = h("select", { id: "capacity-pool" });
    this.element = h(
      "div",
      {},
      h("h2", {}, "Pools and capacity"),
      h("p", { class: "hint" }, "Each pool's capacity grants over time, one lane per grant, and the total underneath. Times are ", zoneName(ctx), "."),
      range,
      this.timeline,
      this.capacityForm(),
      this.poolForm(),
    );
    this.fillPools();
  }

  private fillPools(): void {
    const current = this.capacityPool.value;
    fill(this.capacityPool, this.ctx.pools.map((p) => h("option", { value: p.name }, `${p.name} (${p.kind})`)));
    if (current) this.capacityPool.value = current;
  }

  async load(): Promise<void> {
    const zone = this.ctx.zone;
    const start = fromDateValue(this.from.value, zone) ?? zone.dayStart(new Date());
    const end = zone.addDays(start, Number(this.span.value));
    this.timeline.setAttribute("aria-busy", "true");
    try {
      const pools = await this.ctx.api.pools();
      this.ctx.pools.splice(0, this.ctx.pools.length, ...pools);
      this.fillPools();
      const grants = await Promise.all(pools.map((p) => this.ctx.api.grants(p.name, iso(start), iso(end))));
      fill(
        this.timeline,
        this.axis(start, end),
        pools.length ? pools.map((p, i) => this.poolRow(p, grants[i], start, end)) : h("p", {}, "There are no pools yet."),
      );
    } catch (e) {
      this.ctx.messages.error(e);
    } finally {
      this.timeline.setAttribute("aria-busy", "false");
    }
  }

  private axis(start: Date, end: Date): HTMLElement {
    const zone = this.ctx.zone;
    const span = end.getTime() - start.getTime();
    const days = Math.round(span / DAY);
    const step = days <= 7 ? 1 : days <= 31 ? 7 : days <= 92 ? 14 : 61;
    const ticks: HTMLElement[] = [];
    for (let d = 0; d < days; d += step) {
      const day = zone.addDays(start, d);
      const tick = h("span", { class: "tick" }, dateLabel(day, zone));
      tick.style.left = `${(100 * (day.getTime() - start.getTime())) / span}%`;
      ticks.push(tick);
    }
    return h("div", { class: "axis-row", "aria-hidden": "true" }, h("div", { class: "lane-label" }), h("div", { class: "axis" }, ticks));
  }

  private place(el: HTMLElement, from: Date, to: Date, start: Date, end: Date): void {
    const span = end.getTime() - start.getTime();
    const left = Math.max(0, from.getTime() - start.getTime());
    const right = Math.min(span, to.getTime() - start.getTime());
    // set through the CSSOM, which the page's Content-Security-Policy allows (no style attributes)
    el.style.left = `${(100 * left) / span}%`;
    el.style.width = `${Math.max((100 * (right - left)) / span, 0.5)}%`;
  }

  private poolRow(pool: Pool, grants: Grant[], start: Date, end: Date): HTMLElement {
    const headingId = `pool-${pool.name}`;
    const laneRows = lanes(grants).map((lane, i) =>
      h(
        "div",
        { class: "lane-row" },
        h("div", { class: "lane-label" }, i === 0 ? "Grants" : ""),
        h(
          "ul",
          { class: "lane", "aria-label": `Capacity grants of ${pool.name}, lane ${i + 1}` },
          lane.map((g) => {
            const text = `${resourcesLabel(g)}, ${rangeLabel(parse(g.start), parse(g.end), this.ctx.zone)}`;
            const bar = h("li", { class: "bar grant", title: `${text} (grant #${g.id} by ${g.created_by})`, "data-grant-id": String(g.id) }, text);
            this.place(bar, parse(g.start), parse(g.end), start, end);
            return bar;
          }),
        ),
      ),
    );
    const total = totals(grants, start, end);
    const totalRow = h(
      "div",
      { class: "lane-row total" },
      h("div", { class: "lane-label" }, "Total"),
      h(
        "ul",
        { class: "lane", "aria-label": `Total capacity of ${pool.name}` },
        total.map((s) => {
          const what = s.cores || s.memory_gib ? resourcesLabel(s) : "no capacity";
          const when = rangeLabel(s.start, s.end, this.ctx.zone);
          const bar = h("li", { class: `bar total${s.cores || s.memory_gib ? "" : " empty"}`, title: `${what}, ${when}` }, `${what}, ${when}`);
          this.place(bar, s.start, s.end, start, end);
          return bar;
        }),
      ),
    );
    return h(
      "section",
      { class: "pool-timeline", "aria-labelledby": headingId, "data-pool": pool.name },
      h("h3", { id: headingId }, pool.name, " ", h("small", {}, `${pool.kind}${pool.description ? ` · ${pool.description}` : ""}`)),
      grants.length ? laneRows : h("p", { class: "hint" }, "No capacity in this range."),
      totalRow,
    );
  }

  private capacityForm(): HTMLElement {
    const zone = this.ctx.zone;
    const today = zone.dayStart(new Date());
    const start = h("input", { type: "datetime-local", id: "capacity-start", value: dateTimeValue(today, zone), required: true });
    const end = h("input", { type: "datetime-local", id: "capacity-end", value: dateTimeValue(zone.addDays(today, 30), zone), required: true });
    const cores = h("input", { type: "number", id: "capacity-cores", min: "0", step: "0.001", value: "1", required: true });
    const memory = h("input", { type: "number", id: "capacity-memory", min: "0", step: "0.25", value: "4", required: true });
    const form = h(
      "form",
      { class: "inline-form admin-form", "aria-labelledby": "capacity-heading" },
      h("h3", { id: "capacity-heading" }, "Add capacity"),
      field("Pool", this.capacityPool),
      field(["Start (", zoneName(this.ctx), ")"], start),
      field(["End (", zoneName(this.ctx), ")"], end),
      field("Cores", cores),
      field("Memory (GiB)", memory),
      h("button", { type: "submit", class: "primary" }, "Add capacity"),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const zone = this.ctx.zone; // the zone when submitted: the inputs are read on its clock
      const from = fromDateTimeValue(start.value, zone);
      const to = fromDateTimeValue(end.value, zone);
      if (!from || !to) {
        this.ctx.messages.error(new ApiError(400, `Give the start and the end as a date and a time (${zone.name}).`));
        return;
      }
      try {
        const grant = await this.ctx.api.addCapacity(this.capacityPool.value, {
          start: iso(from),
          end: iso(to),
          cores: Number(cores.value),
          memory_gib: Number(memory.value),
        });
        this.ctx.messages.info(`Added ${resourcesLabel(grant)} to pool ${this.capacityPool.value}, ${rangeLabel(parse(grant.start), parse(grant.end), zone)}.`);
        await this.load();
        await this.ctx.changed();
      } catch (err) {
        this.ctx.messages.error(err);
      }
    });
    return form;
  }

  private poolForm(): HTMLElement {
    const name = h("input", { type: "text", id: "pool-name", required: true, maxlength: "64", autocomplete: "off", spellcheck: "false" });
    const kind = h(
      "select",
      { id: "pool-kind" },
      h("option", { value: "reserved" }, "reserved (booked ahead)"),
      h("option", { value: "shared" }, "shared (walk-in)"),
    );
    const description = h("input", { type: "text", id: "pool-description", maxlength: "2000" });
    const form = h(
      "form",
      { class: "inline-form admin-form", "aria-labelledby": "pool-heading" },
      h("h3", { id: "pool-heading" }, "New pool"),
      field("Name", name, "Lower-case letters, digits, . _ -"),
      field("Kind", kind),
      field("Description", description),
      h("button", { type: "submit" }, "Create pool"),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const pool = await this.ctx.api.createPool({ name: name.value.trim(), kind: kind.value, description: description.value });
        this.ctx.messages.info(`Created the ${pool.kind} pool ${pool.name}; add capacity to it.`);
        name.value = "";
        description.value = "";
        await this.load();
        this.capacityPool.value = pool.name;
      } catch (err) {
        this.ctx.messages.error(err);
      }
    });
    return form;
  }
}

export class PackagesPanel {
  readonly element: HTMLElement;
  private readonly table: HTMLElement;

  constructor(private readonly ctx: Context) {
    this.table = h("div", { class: "table-scroll" });
    this.element = h(
      "div",
      {},
      h("h2", {}, "Packages"),
      h("p", { class: "hint" }, "Every version of every package template. New bookings get the newest version; existing ones keep theirs."),
      this.table,
      this.packageForm(),
    );
  }

  async load(): Promise<void> {
    try {
      const all = await this.ctx.api.packages(true);
      const newest = new Map<string, number>();
      for (const p of all) newest.set(p.name, Math.max(newest.get(p.name) ?? 0, p.version));
      const row = (p: Package) =>
        h(
          "tr",
          { class: p.version === newest.get(p.name) ? "newest" : "older" },
          h("th", { scope: "row" }, p.name),
          h("td", {}, String(p.version), p.version === newest.get(p.name) ? h("span", { class: "badge active" }, "newest") : null),
          h("td", {}, resourcesLabel(p.notebook)),
          h("td", {}, p.spark.workers ? `${p.spark.workers} × ${resourcesLabel(p.spark.worker)}` : "none"),
          h("td", {}, resourcesLabel(p.footprint)),
          h("td", {}, p.description),
          h("td", {}, dateLabel(parse(p.created), this.ctx.zone), " ", String(this.ctx.zone.wall(parse(p.created)).year)),
        );
      fill(
        this.table,
        h(
          "table",
          { class: "data" },
          h("caption", { class: "visually-hidden" }, "Package templates and their versions"),
          h(
            "thead",
            {},
            h("tr", {}, ["Name", "Version", "Notebook", "Spark workers", "Footprint", "Description", "Created"].map((t) => h("th", { scope: "col" }, t))),
          ),
          h("tbody", {}, all.map(row)),
        ),
      );
    } catch (e) {
      this.ctx.messages.error(e);
    }
  }

  private packageForm(): HTMLElement {
    const num = (id: string, value: string, step: string, min = "0") => h("input", { type: "number", id, value, step, min, required: true });
    const name = h("input", { type: "text", id: "package-name", required: true, maxlength: "64", autocomplete: "off", spellcheck: "false" });
    const description = h("input", { type: "text", id: "package-description", maxlength: "2000" });
    const nbCores = num("package-nb-cores", "1", "0.001", "0.001");
    const nbMemory = num("package-nb-memory", "4", "0.25", "0.001");
    const workers = num("package-workers", "0", "1");
    const wCores = num("package-worker-cores", "1", "0.001");
    const wMemory = num("package-worker-memory", "4", "0.25");
    const form = h(
      "form",
      { class: "inline-form admin-form", "aria-labelledby": "package-heading" },
      h("h3", { id: "package-heading" }, "New package, or a new version of one"),
      field("Name", name, "An existing name adds its next version."),
      field("Description", description),
      field("Notebook cores", nbCores),
      field("Notebook memory (GiB)", nbMemory),
      field("Spark workers", workers),
      field("Worker cores", wCores),
      field("Worker memory (GiB)", wMemory),
      h("button", { type: "submit" }, "Save package"),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const spec: Record<string, string | number> = {
        name: name.value.trim(),
        description: description.value,
        notebook_cores: Number(nbCores.value),
        notebook_memory_gib: Number(nbMemory.value),
        spark_workers: Number(workers.value),
      };
      if (Number(workers.value) > 0) {
        spec.worker_cores = Number(wCores.value);
        spec.worker_memory_gib = Number(wMemory.value);
      }
      try {
        const p = await this.ctx.api.createPackage(spec);
        this.ctx.messages.info(`Saved ${p.name} version ${p.version}: ${resourcesLabel(p.footprint)} in all.`);
        const newest = await this.ctx.api.packages();
        this.ctx.packages.splice(0, this.ctx.packages.length, ...newest);
        await this.load();
        await this.ctx.changed();
      } catch (err) {
        this.ctx.messages.error(err);
      }
    });
    return form;
  }
}
