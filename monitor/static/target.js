// One target's page: its state and checks follow /status/targets/{name} live;
// when its part in an incident changes, the page is drawn anew.

import { page, t, format, setBadge, setStateClass, el, poll } from './common.js';

const head = document.getElementById('head');
const badge = head.querySelector('[data-badge]');

function checkRow(check) {
  const row = el('tr');
  row.dataset.check = check.check;
  const stateCell = el('td');
  const stateBadge = el('span', check.state_text, `badge s-${check.state}`);
  stateCell.append(stateBadge);
  row.append(
    el('td', check.check, 'mono'),
    stateCell,
    el('td', check.since_text),
    el('td', check.result_text, `result ${check.result}`),
    el('td', check.reason, 'mono'),
    el('td', check.message),
    el('td', check.duration, 'num'),
    el('td', check.at_text),
    el('td', check.values, 'mono values'),
  );
  return row;
}

function apply(target) {
  if (target.incident !== page.incident) {
    // Its part in an incident changed (root cause, consequences, mute): draw the page anew.
    window.location.reload();
    return;
  }
  setStateClass(head, target.state);
  setBadge(badge, target.state, target.state_text);
  document.getElementById('since').textContent = target.since_text;
  document.getElementById('duration').textContent = target.duration ? format(t.for, { duration: target.duration }) : '';
  const reason = document.getElementById('reason');
  reason.textContent = target.reason;
  reason.hidden = !target.reason;
  document.getElementById('checks').replaceChildren(...target.checks.map(checkRow));
}

poll(() => `/status/targets/${encodeURIComponent(page.name)}`, apply);
