// Choices the page remembers in this browser (the time zone, the pool): localStorage, under
// one prefix. A browser that keeps no storage (private mode, storage off) only forgets them.

const PREFIX = "aglais-calendar.";

export function remembered(key: string): string | null {
  try {
    return window.localStorage.getItem(PREFIX + key);
  } catch {
    return null;
  }
}

export function remember(key: string, value: string): void {
  try {
    window.localStorage.setItem(PREFIX + key, value);
  } catch {
    // nothing kept: the choice lasts as long as the page
  }
}
