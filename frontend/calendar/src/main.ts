// The booking calendar's entry point: reads the API's address and the XSRF token from the
// page the booking service served, asks who the user is, and builds the panels as tabs
// (the admin ones only for booking admins), under the time zone selector.

import { AllBookingsPanel, MyBookingsPanel } from "./bookings";
import { PackagesPanel, PoolsPanel } from "./admin";
import { Api } from "./api";
import { CalendarPanel } from "./calendar";
import { bookablePackages, type Context } from "./context";
import { fill, h } from "./dom";
import { FeedPanel } from "./feed";
import { Messages } from "./messages";
import { SlotFinder } from "./slot";
import { NoticesPanel } from "./notices";
import { initialZone, zonePicker } from "./zonepicker";

interface Panel {
  element: HTMLElement;
  load(): Promise<void>;
}

interface Tab {
  id: string;
  label: string;
  panel: Panel;
  tab?: HTMLButtonElement;
  section?: HTMLElement;
  loaded?: boolean;
}

function tabs(list: Tab[], initial: string): HTMLElement {
  const bar = h("div", { class: "tabs", role: "tablist", "aria-label": "Booking views" });
  const sections: HTMLElement[] = [];
  const select = (tab: Tab, focus: boolean) => {
    for (const t of list) {
      const on = t === tab;
      t.tab!.setAttribute("aria-selected", String(on));
      t.tab!.tabIndex = on ? 0 : -1;
      t.section!.hidden = !on;
    }
    if (focus) tab.tab!.focus();
    if (!tab.loaded) {
      tab.loaded = true;
      tab.panel.load();
    }
    history.replaceState(null, "", `#${tab.id}`);
  };
  for (const t of list) {
    t.tab = h(
      "button",
      { type: "button", role: "tab", id: `tab-${t.id}`, "aria-controls": `panel-${t.id}`, "aria-selected": "false", tabindex: "-1" },
      t.label,
    );
    t.section = h("section", { role: "tabpanel", id: `panel-${t.id}`, "aria-labelledby": `tab-${t.id}`, hidden: true }, t.panel.element);
    t.tab.addEventListener("click", () => select(t, false));
    t.tab.addEventListener("keydown", (e) => {
      const i = list.indexOf(t);
      const next =
        e.key === "ArrowRight" ? list[(i + 1) % list.length]
        : e.key === "ArrowLeft" ? list[(i - 1 + list.length) % list.length]
        : e.key === "Home" ? list[0]
        : e.key === "End" ? list[list.length - 1]
        : null;
      if (next) {
        e.preventDefault();
        select(next, true);
      }
    });
    bar.append(t.tab);
    sections.push(t.section);
  }
  select(list.find((t) => t.id === initial) ?? list[0], false);
  return h("div", { class: "tabbed" }, bar, sections);
}

async function start(): Promise<void> {
  const root = document.getElementById("calendar-app");
  if (!root) return;
  const xsrf = document.querySelector<HTMLMetaElement>('meta[name="xsrf-token"]')?.content ?? "";
  const api = new Api(document.body.dataset.api ?? "api/v1/", xsrf);
  const messages = new Messages();
  fill(root, messages.element, h("p", { class: "loading" }, "Loading the calendar…"));
  let me, pools, packages;
  try {
    [me, pools, packages] = await Promise.all([api.me(), api.pools(), api.packages()]);
  } catch (e) {
    fill(root, messages.element);
    messages.error(e);
    return;
  }
  const loaded = new Set<Panel>();
  const ctx: Context = {
    api,
    me,
    messages,
    pools,
    packages,
    zone: initialZone(),
    hub: document.body.dataset.hub ?? "/hub/",
    async changed() {
      calendar.syncPools();
      slots?.syncPools();
      await Promise.all([...loaded].map((p) => p.load()));
    },
  };
  const calendar = new CalendarPanel(ctx);
  // "Find me a slot" for a level that may book packages, when there is a pool to book
  const slots = bookablePackages(ctx).length && pools.some((p) => p.kind === "reserved") ? new SlotFinder(ctx) : null;
  // A new zone: every name of it in the text, the calendar's dates, and whatever shows times.
  const picker = zonePicker(ctx.zone, (zone) => {
    const before = ctx.zone;
    ctx.zone = zone;
    for (const el of document.querySelectorAll(".zone-name")) el.textContent = zone.name;
    calendar.zoneChanged(before);
    slots?.zoneChanged(before);
    void ctx.changed();
  });
  const mine = new MyBookingsPanel(ctx);
  const feed = new FeedPanel(ctx);
  const notices = new NoticesPanel(ctx);
  const home: Panel = {
    // the calendar with my bookings beside it (below it on a phone)
    element: h(
      "div",
      { class: "calendar-layout" },
      h("div", { class: "calendar-main" }, calendar.element, slots?.element),
      h("aside", { class: "my-bookings", "aria-label": "My bookings" }, notices.element, mine.element, feed.element),
    ),
    async load() {
      loaded.add(calendar).add(mine).add(notices);
      await Promise.all([calendar.load(), mine.load(), notices.load(), feed.load(), slots?.load()]);
    },
  };
  if (!me.admin) {
    fill(root, messages.element, picker, home.element);
    await home.load();
    return;
  }
  const track = (panel: Panel): Panel => ({
    element: panel.element,
    async load() {
      loaded.add(panel);
      await panel.load();
    },
  });
  const list: Tab[] = [
    { id: "calendar", label: "Calendar", panel: home },
    { id: "pools", label: "Pools and capacity", panel: track(new PoolsPanel(ctx)) },
    { id: "packages", label: "Packages", panel: track(new PackagesPanel(ctx)) },
    { id: "all-bookings", label: "Everyone's bookings", panel: track(new AllBookingsPanel(ctx)) },
  ];
  fill(root, messages.element, picker, tabs(list, window.location.hash.slice(1) || "calendar"));
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => void start());
else void start();
