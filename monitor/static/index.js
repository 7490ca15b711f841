// The overview: live updates from /status/summary, search and state filters.
//
// The server renders every row once; this script finds them by target name
// and updates their cells in place. It asks only for rows changed after the
// generation it has (?after=G), so a refresh of ten thousand quiet targets
// carries a few hundred bytes. Filters live in the URL (?q=&hide=) so a
// filtered view can be bookmarked or put on a wall screen.

import { page, t, format, formatDuration, setBadge, el, makeBadge, poll } from './common.js';
import { updatePower } from './power.js';

const STATES = [...document.querySelectorAll('#filters input')].map((input) => input.value);
// A row's cells by their place (they carry no class: monitor/templates/_row.html).
const ROW_CELLS = { state: 0, name: 1, address: 2, since: 3, a24: 4, a30: 5, reason: 6, bars: 7 };
const rows = new Map(); // target name -> its row and cells
const groups = []; // sites and provinces, with the rows they hold

const search = document.getElementById('search');
const shownText = document.getElementById('shown');
const nothing = document.getElementById('nothing');
let generation = page.generation;
const openIncidents = new Set(); // root causes whose consequences a person unfolded
let clockOffset = page.now - Date.now() / 1000; // the server's clock minus ours, in seconds

/** Lower case without Vietnamese diacritics, so "quang ngai" finds "Quảng Ngãi". */
function fold(text) {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[đĐ]/g, 'd').toLowerCase();
}

/** The server-rendered incidents: remember which a person opens. */
function indexIncidents() {
  for (const details of document.querySelectorAll('#incidents-list details')) {
    const name = details.parentElement.dataset.name;
    details.addEventListener('toggle', () => {
      if (details.open) openIncidents.add(name);
      else openIncidents.delete(name);
    });
  }
}

function indexRows() {
  for (const province of document.querySelectorAll('#groups details.province')) {
    const provinceGroup = { element: province, tally: province.querySelector('summary [data-tally]'), rows: [] };
    const provinceName = province.querySelector('summary h2').textContent;
    for (const site of province.querySelectorAll('tbody.site')) {
      const siteGroup = { element: site, tally: site.querySelector('[data-tally]'), rows: [] };
      const place = [site.querySelector('.site-name').textContent, provinceName];
      for (const tr of site.querySelectorAll('tr.t')) {
        const cells = tr.cells;
        const since = cells[ROW_CELLS.since];
        const row = {
          tr,
          name: cells[ROW_CELLS.name].firstElementChild.textContent,
          state: tr.dataset.state,
          since: tr.dataset.since ? Number(tr.dataset.since) : null,
          badge: cells[ROW_CELLS.state].firstElementChild,
          time: since.firstElementChild,
          duration: since.lastElementChild,
          a24: cells[ROW_CELLS.a24],
          a30: cells[ROW_CELLS.a30],
          reason: cells[ROW_CELLS.reason],
          bars: cells[ROW_CELLS.bars],
          place,
          key: null, // what a search looks in, folded at the first search (searchKeys)
          reasonKey: null,
        };
        rows.set(row.name, row);
        siteGroup.rows.push(row);
        provinceGroup.rows.push(row);
      }
      groups.push(siteGroup);
    }
    groups.push(provinceGroup);
  }
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function setLevel(cell, level, text, note) {
  if (note) {
    const small = el('small', note, 'note');
    cell.replaceChildren(text, small);
    cell.title = note;
  } else {
    setText(cell, text);
    cell.removeAttribute('title');
  }
  cell.classList.remove('good', 'fair', 'poor', 'none');
  cell.classList.add(level);
}

function updateRow(row, item) {
  if (row.state !== item.state) {
    row.state = item.state;
    row.tr.dataset.state = item.state;
    setBadge(row.badge, item.state, t[`state.${item.state}`] ?? item.state);
  }
  row.since = item.since;
  setText(row.time, item.since_text);
  setLevel(row.a24, item.a24_level, item.a24, item.a24_note);
  setLevel(row.a30, item.a30_level, item.a30, item.a30_note);
  if (row.reason.textContent !== item.reason) {
    row.reason.textContent = item.reason;
    row.reasonKey = null;
  }
  if (item.bars && row.bars) drawBars(row.bars, item.bars);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function svgElement(tag, attributes, title) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (title) {
    const text = document.createElementNS(SVG_NS, 'title');
    text.textContent = title;
    element.append(text);
  }
  return element;
}

/** A row's uptime strip, drawn anew from the summary (as monitor/templates/_bars.html does). */
function drawBars(cell, strip) {
  const key = JSON.stringify(strip);
  if (cell.dataset.key === key) return;
  cell.dataset.key = key;
  // A quiet row's strip drawn by the page (a class, and a title once hovered) goes.
  if (cell.classList.contains('q')) {
    cell.removeAttribute('class');
    cell.removeAttribute('title');
  }
  if (strip.src) {
    // A quiet strip shared by many rows: its image, as the template draws it.
    const image = el('img', null, 'bars');
    image.src = strip.src;
    image.title = strip.label;
    cell.replaceChildren(image);
    return;
  }
  const svg = svgElement('svg', { class: 'bars', viewBox: `0 0 ${strip.width} ${strip.height}`, preserveAspectRatio: 'none', role: 'img' }, strip.label);
  for (const [level, x, y, width, height, title] of strip.rects) {
    svg.append(svgElement('rect', { class: level, x, y, width, height }, title));
  }
  if (!strip.days.length) {
    cell.replaceChildren(svg);
    return;
  }
  const details = el('details', null, 'bar-days');
  const summary = el('summary');
  summary.append(svg);
  const list = el('ul');
  for (const day of strip.days) list.append(el('li', day));
  if (strip.more) list.append(el('li', strip.more, 'more'));
  details.append(summary, list);
  cell.replaceChildren(details);
}

/** The root cause's line: time, state, link, why, and what is behind it. */
function incidentLine(incident, container) {
  const link = el('a', incident.name);
  link.href = incident.href;
  container.append(el('time', incident.since_text), ' ', makeBadge(incident.state, incident.state_text), ' ', link, ' ', el('span', incident.reason, 'why'));
  if (incident.behind) container.append(' ', el('span', incident.behind, 'behind'));
}

/** One incident: a line, or a <details> with its consequences folded under the line. */
function incidentItem(incident) {
  const item = el('li', null, 'incident');
  item.dataset.name = incident.name;
  if (!incident.consequences.length) {
    incidentLine(incident, item);
    return item;
  }
  const details = el('details', null, 'consequences');
  details.open = openIncidents.has(incident.name); // a refresh keeps what a person opened
  details.addEventListener('toggle', () => {
    if (details.open) openIncidents.add(incident.name);
    else openIncidents.delete(incident.name);
  });
  const summary = el('summary');
  incidentLine(incident, summary);
  const list = el('ul', null, 'consequence-list');
  list.setAttribute('aria-label', t['incident.show']);
  for (const row of incident.consequences) {
    const link = el('a', row.name);
    link.href = row.href;
    const entry = el('li');
    entry.append(makeBadge(row.state, row.state_text), ' ', link, ' ', el('span', row.reason, 'why'));
    list.append(entry);
  }
  details.append(summary, list);
  if (incident.more) details.append(el('p', format(t.and_more, { count: incident.more }), 'more'));
  item.append(details);
  return item;
}

function alertItem(alert) {
  const item = el('li', null, `sev-${alert.severity}${alert.muted ? ' muted' : ''}`);
  const what = el('span', null, 'what');
  what.append(el('strong', alert.alertname));
  if (alert.target) {
    const link = el('a', alert.target);
    link.href = alert.href;
    what.append(' ', link);
  }
  if (alert.muted) what.append(' ', el('span', t.muted, 'tag'));
  item.append(el('time', alert.since_text), ' ', el('span', alert.severity_text, 'severity'), ' ', what, ' ', el('span', alert.summary, 'why'));
  return item;
}

function updateBox(kind, items, total, build) {
  document.getElementById(`${kind}-box`).hidden = total === 0;
  document.getElementById(`${kind}-count`).textContent = String(total);
  const key = JSON.stringify(items);
  const list = document.getElementById(`${kind}-list`);
  if (list.dataset.key !== key) {
    // Rebuilt only when it changed, so a list being read or clicked stays put.
    list.dataset.key = key;
    list.replaceChildren(...items.map(build));
  }
  const more = document.getElementById(`${kind}-more`);
  more.hidden = total <= items.length;
  more.textContent = format(t.and_more, { count: total - items.length });
}

/** A refused config stays on screen until a reload succeeds. */
function updateReload(reload) {
  document.getElementById('reload-failed').hidden = !reload;
  if (!reload) return;
  document.getElementById('reload-text').textContent = reload.text;
  document.getElementById('reload-issues').replaceChildren(...reload.issues.map((issue) => {
    const item = document.createElement('li');
    const code = document.createElement('code');
    code.textContent = issue;
    item.append(code);
    return item;
  }));
}

function updateBanner(summary) {
  const busy = summary.incidents_total + summary.alerts_total > 0;
  const banner = document.getElementById('banner');
  banner.classList.toggle('alarm', busy);
  banner.classList.toggle('clear', !busy);
  document.getElementById('all-clear').hidden = busy;
  document.getElementById('isolated').hidden = !summary.isolated;
  updateReload(summary.reload);
  updateBox('incidents', summary.incidents, summary.incidents_total, incidentItem);
  setText(document.getElementById('affected'), summary.affected_text);
  updateBox('alerts', summary.alerts, summary.alerts_total, alertItem);
}

/** "for 3 h 5 min" of every row, by the server's clock (this machine's may be off). */
function updateDurations() {
  const now = Date.now() / 1000 + clockOffset;
  for (const row of rows.values()) {
    setText(row.duration, row.since === null ? '' : formatDuration(now - row.since));
  }
}

function apply(summary) {
  if (summary.epoch !== page.epoch || summary.layout !== page.layout) {
    // The daemon restarted or a reload changed the targets: draw the page anew.
    window.location.reload();
    return;
  }
  clockOffset = summary.now - Date.now() / 1000;
  generation = summary.generation;
  for (const item of summary.targets) {
    const row = rows.get(item.name);
    if (row) updateRow(row, item);
  }
  updateDurations();
  for (const state of STATES) {
    const count = summary.counts[state] ?? 0;
    const counter = document.getElementById(`count-${state}`);
    counter.textContent = String(count);
    counter.parentElement.classList.toggle('zero', count === 0);
  }
  updateBanner(summary);
  updatePower(summary.power);
  if (summary.targets.length) applyFilter(); // states or reasons changed: so may what is shown
}

function tally(counts) {
  return STATES.filter((state) => counts[state]).map((state) => {
    const mini = el('span', String(counts[state]), `mini s-${state}`);
    mini.title = t[`state.${state}`];
    return mini;
  });
}

function updateGroups() {
  for (const group of groups) {
    const counts = {};
    let visible = 0;
    for (const row of group.rows) {
      counts[row.state] = (counts[row.state] ?? 0) + 1;
      if (!row.tr.hidden) visible += 1;
    }
    group.element.hidden = visible === 0;
    const key = JSON.stringify(counts);
    if (group.tallyKey !== key) {
      group.tallyKey = key;
      group.tally.replaceChildren(...tally(counts));
    }
  }
}

function enabledStates() {
  return new Set([...document.querySelectorAll('#filters input:checked')].map((input) => input.value));
}

/** A row's name, address, site and province, and its reason, folded for searching
 * (on the first search rather than for every row at load; the reason again once it changed). */
function searchKeys(row) {
  if (row.key === null) {
    row.key = fold([row.name, row.tr.cells[ROW_CELLS.address].textContent, ...row.place].join(' '));
  }
  if (row.reasonKey === null) row.reasonKey = fold(row.reason.textContent);
  return row;
}

function applyFilter() {
  const query = fold(search.value.trim());
  const enabled = enabledStates();
  let shown = 0;
  for (const row of rows.values()) {
    const visible = enabled.has(row.state) && (!query || searchKeys(row).key.includes(query) || row.reasonKey.includes(query));
    if (row.tr.hidden === visible) row.tr.hidden = !visible;
    if (visible) shown += 1;
  }
  updateGroups();
  shownText.textContent = format(t.shown, { shown, total: rows.size });
  nothing.hidden = shown > 0;
  for (const chip of document.querySelectorAll('#filters label')) {
    chip.classList.toggle('off', !enabled.has(chip.dataset.state));
  }
  saveFilter(search.value.trim(), enabled);
}

function saveFilter(query, enabled) {
  const params = new URLSearchParams();
  if (query) params.set('q', query);
  const hidden = STATES.filter((state) => !enabled.has(state));
  if (hidden.length) params.set('hide', hidden.join(','));
  const url = params.toString() ? `?${params}` : window.location.pathname;
  window.history.replaceState(null, '', url);
}

function loadFilter() {
  const params = new URLSearchParams(window.location.search);
  search.value = params.get('q') ?? '';
  const hidden = new Set((params.get('hide') ?? '').split(','));
  for (const input of document.querySelectorAll('#filters input')) input.checked = !hidden.has(input.value);
}

function setStates(predicate) {
  for (const input of document.querySelectorAll('#filters input')) input.checked = predicate(input.value);
  applyFilter();
}

/**
 * A quiet row's strip is its cell's background, shared by every row of its image (class
 * q-KEY); its figure, the same for all of them, comes once in the page's data (bar_labels,
 * by KEY) rather than in every row. The pointer coming into a site gives its quiet cells
 * their figure as a title, before it reaches one of them.
 */
function labelQuietCells(event) {
  const site = event.target.closest?.('tbody.site');
  if (!site || site.dataset.labelled) return;
  site.dataset.labelled = '1';
  for (const cell of site.querySelectorAll('td.q')) {
    if (cell.title) continue;
    const key = [...cell.classList].find((name) => name.startsWith('q-'));
    const label = key && page.bar_labels?.[key.slice(2)];
    if (label) cell.title = label;
  }
}

function wire() {
  const groupsElement = document.getElementById('groups');
  groupsElement.addEventListener('mouseover', labelQuietCells);
  groupsElement.addEventListener('focusin', labelQuietCells);
  let pending = null;
  search.addEventListener('input', () => {
    clearTimeout(pending);
    pending = setTimeout(applyFilter, 120); // one pass after typing pauses, not per key
  });
  document.getElementById('filters').addEventListener('change', applyFilter);
  document.getElementById('problems').addEventListener('click', () => setStates((s) => page.problem_states.includes(s)));
  document.getElementById('show-all').addEventListener('click', () => setStates(() => true));
  document.addEventListener('keydown', (event) => {
    if (event.key === '/' && document.activeElement !== search) {
      event.preventDefault();
      search.focus();
    }
  });
}

indexRows();
indexIncidents();
loadFilter();
wire();
applyFilter();
updateDurations();
poll(() => `/status/summary?after=${generation}`, apply);
