// Helpers shared by the status page's scripts: page data, polling, formatting.
//
// Everything the daemon sends is placed with textContent or as attribute
// values; no script here turns a string into HTML, so a target named
// "<script>" stays text whatever it is called.

const data = JSON.parse(document.getElementById('page-data').textContent);

export const page = data;
export const t = data.texts;

const FETCH_TIMEOUT_MS = 4000;

/** "{shown} of {total}" with the values filled in (missing keys stay as written). */
export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
}

/** Two units at most, as monitor/status_page.py's format_duration writes them. */
export function formatDuration(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const days = Math.floor(whole / 86400);
  const hours = Math.floor((whole % 86400) / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  if (days) return `${days} ${t['unit.d']} ${hours} ${t['unit.h']}`;
  if (hours) return `${hours} ${t['unit.h']} ${minutes} ${t['unit.min']}`;
  if (minutes) return `${minutes} ${t['unit.min']}`;
  return `${whole % 60} ${t['unit.s']}`;
}

/** Set the state class (s-up, s-down, ...) of an element, keeping its other classes. */
export function setStateClass(element, state) {
  for (const name of [...element.classList]) {
    if (name.startsWith('s-')) element.classList.remove(name);
  }
  element.classList.add(`s-${state}`);
}

/** A state badge: shape and colour from its class, words from the texts. */
export function makeBadge(state, text) {
  const badge = document.createElement('span');
  badge.className = `badge s-${state}`;
  badge.textContent = text;
  return badge;
}

export function setBadge(badge, state, text) {
  setStateClass(badge, state);
  if (badge.textContent !== text) badge.textContent = text;
}

/** Replace an element's children with new ones (built by the caller with textContent). */
export function replaceChildren(element, children) {
  element.replaceChildren(...children);
}

/** A cell or element with text, e.g. el('td', '12 ms', 'num'). */
export function el(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined && text !== null) element.textContent = text;
  if (className) element.className = className;
  return element;
}

async function fetchJSON(url) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetch(url, { cache: 'no-store', signal: controller.signal });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return await response.json();
  } finally {
    clearTimeout(timer);
  }
}

const updated = document.getElementById('updated');
let lastGood = null;

function markUpdated(timeText) {
  lastGood = timeText;
  updated.classList.remove('stale');
  updated.textContent = format(t.updated, { time: timeText });
}

function markStale() {
  updated.classList.add('stale');
  updated.textContent = format(t.stale, { time: lastGood ?? '—' });
}

/**
 * Fetch `url()` now and then every page.refresh_seconds, handing each document
 * to `apply`. The next fetch is scheduled only after the previous one ended,
 * so a slow daemon is never asked twice at once.
 */
export function poll(url, apply) {
  const period = page.refresh_seconds * 1000;
  async function once() {
    try {
      const documentData = await fetchJSON(url());
      apply(documentData);
      markUpdated(documentData.generated_text);
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    } catch (error) {
      markStale();
      console.warn('status refresh failed:', error);
    } finally {
      setTimeout(once, period);
    }
  }
  once();
}
