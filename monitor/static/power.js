// The power board (sites on battery, soonest dark first): redrawn from the rows of
// /status/summary, already formatted in the page's language by monitor/power_board.py.
// Text goes in with textContent only.

import { t, format, el, makeBadge } from './common.js';

function link(name) {
  const a = el('a', name);
  a.href = `/targets/${encodeURIComponent(name)}`;
  return a;
}

function siteCell(row) {
  const cell = el('td');
  cell.append(link(row.name));
  if (row.site) cell.append(' ', el('span', row.site, 'site'));
  if (row.battery_text) cell.append(' ', el('small', row.battery_text, 'note'));
  return cell;
}

function behindCell(row) {
  const cell = el('td', null, 'behind-list');
  if (!row.behind.length) cell.append(el('span', t['power.nothing_behind'], 'note'));
  for (const child of row.behind) cell.append(makeBadge(child.state, child.state_text), ' ', link(child.name), ' ');
  if (row.behind_more) cell.append(' ', el('span', format(t.and_more, { count: row.behind_more }), 'more'));
  return cell;
}

function powerRow(row) {
  const tr = el('tr', null, `lvl-${row.level}`);
  tr.dataset.name = row.name;
  const time = el('td');
  time.append(el('time', row.dark_text));
  tr.append(
    siteCell(row),
    el('td', row.left_text, 'left'),
    time,
    el('td', row.method_text),
    el('td', row.charge_text),
    el('td', row.contact),
    behindCell(row),
  );
  return tr;
}

/** Redraw the board from the summary's rows (a handful: only sites on battery). */
export function updatePower(rows) {
  const section = document.getElementById('power');
  if (!section || !rows) return;
  section.hidden = rows.length === 0;
  document.getElementById('power-count').textContent = String(rows.length);
  document.getElementById('power-rows').replaceChildren(...rows.map(powerRow));
}
