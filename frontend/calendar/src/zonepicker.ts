// The time zone the page shows: the browser's by default, or the one chosen last in this
// browser; a selector of every zone the browser knows changes it.

import { field, h } from "./dom";
import { remember, remembered } from "./prefs";
import { Zone, browserZone, zoneNames } from "./zone";

const ZONE_KEY = "zone";

/** The zone to start with: the one chosen last here, if the browser still knows it, else
 * the browser's own. */
export function initialZone(): Zone {
  const chosen = remembered(ZONE_KEY);
  return chosen && Zone.known(chosen) ? new Zone(chosen) : browserZone();
}

/** A labelled selector of zones, grouped by region ("Europe", "America", ...), the browser's
 * own and UTC first; `onChange` gets the zone chosen, which is remembered. */
export function zonePicker(current: Zone, onChange: (zone: Zone) => void): HTMLElement {
  const own = browserZone().name;
  const names = zoneNames();
  if (!names.includes(current.name)) names.push(current.name); // e.g. an alias the list lacks
  const option = (name: string, text = name.replace(/_/g, " ")) => h("option", { value: name }, text);
  const regions = new Map<string, string[]>();
  for (const name of names) {
    if (name === "UTC" || name === own) continue;
    const region = name.includes("/") ? name.slice(0, name.indexOf("/")) : "Other";
    regions.set(region, [...(regions.get(region) ?? []), name]);
  }
  const select = h(
    "select",
    { id: "calendar-zone", autocomplete: "off" },
    own !== "UTC" ? option(own, `${own.replace(/_/g, " ")} (this browser's)`) : null,
    option("UTC", own === "UTC" ? "UTC (this browser's)" : "UTC"),
    [...regions].map(([region, list]) => h("optgroup", { label: region }, list.map((n) => option(n)))),
  );
  select.value = current.name;
  select.addEventListener("change", () => {
    remember(ZONE_KEY, select.value);
    onChange(new Zone(select.value));
  });
  return h(
    "div",
    { class: "zone-picker" },
    field("Time zone", select, "Every time on this page is on this zone's clock; days start at its midnight."),
  );
}
