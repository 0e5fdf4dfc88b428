// A manager's approval on the spot: their PIN goes with the request it approves.
'use strict';

// Asks a manager's id and PIN on the spot; resolves to {operator, pin}, or null when cancelled.
// posd checks the PIN with the request it approves (and its lock-out applies).
let managerAsk = null;

async function askManager(why) {
  const r = await api('GET', '/v1/session/operators').catch(() => null);
  const managers = r && r.data ? r.data.operators.filter((o) => o.role === 'manager') : [];
  return new Promise((resolve) => {
    const preset = managers.length === 1 ? managers[0].id
      : (state.session.role === 'manager' ? state.session.operator : null);
    managerAsk = { resolve, operator: preset, pin: '' };
    $('manager-why').textContent = why;
    $('manager-error').textContent = managers.length ? '' : t('manager.none');
    const list = $('manager-list');
    list.replaceChildren();
    for (const m of managers) {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.manager = m.id;
      b.textContent = m.name;
      b.addEventListener('click', () => { managerAsk.operator = m.id; renderManager(); });
      list.append(b);
    }
    renderManager();
    $('manager-modal').hidden = false;
  });
}

function renderManager() {
  if (!managerAsk) return;
  $('manager-dots').textContent = '•'.repeat(managerAsk.pin.length);
  document.querySelectorAll('#manager-list button').forEach((b) => {
    b.setAttribute('aria-pressed', String(b.dataset.manager === managerAsk.operator));
  });
  $('manager-ok').disabled = !managerAsk.operator || managerAsk.pin.length === 0;
}

function managerKey(key) {
  if (!managerAsk) return;
  if (/^\d$/.test(key) && managerAsk.pin.length < 12) managerAsk.pin += key;
  else if (key === 'Backspace') managerAsk.pin = managerAsk.pin.slice(0, -1);
  else if (key === 'Enter') return finishManager(true);
  else if (key === 'Escape') return finishManager(false);
  renderManager();
}

function finishManager(ok) {
  const a = managerAsk;
  if (!a || (ok && (!a.operator || !a.pin))) return;
  managerAsk = null;
  $('manager-modal').hidden = true;
  a.resolve(ok ? { operator: a.operator, pin: a.pin } : null);
}
