// The day's totals (X) shown before the Z, the X printed, training mode.
'use strict';

async function openReports() {
  $('reports-status').textContent = '';
  $('reports-error').textContent = '';
  $('reports-modal').hidden = false;
  $('training-toggle').textContent = t(state.health && state.health.training ? 'reports.training_off' : 'reports.training');
  await loadX();
}

async function loadX() {
  let r;
  try { r = await api('GET', '/v1/reports/x'); } catch (_) { $('reports-error').textContent = t('status.network.bad'); return; }
  if (r.status !== 200) { $('reports-error').textContent = t('error.generic', { message: errorText(r) }); return; }
  renderX(r.data);
}

function renderX(x) {
  state.xTotal = x.day.total;
  $('x-totals').replaceChildren(...xTable(x));
}

async function printX() {
  const r = await api('POST', '/v1/reports/x/print').catch(() => null);
  if (r && r.status === 200) $('reports-status').textContent = t('reports.x_printed');
  else $('reports-error').textContent = r ? t('error.generic', { message: errorText(r) }) : t('status.network.bad');
}

async function closeDay() {
  $('reports-error').textContent = '';
  const m = await askManager(t('reports.z_why', { total: money(state.xTotal || 0) }));
  if (!m) return;
  const r = await api('POST', '/v1/closures', { period: 'day', operator: m.operator, pin: m.pin }).catch(() => null);
  if (!r) { $('reports-error').textContent = t('status.network.bad'); return; }
  if (r.status !== 200) {
    $('reports-error').textContent = r.data && r.data.error && r.data.error.code === 'wrong_pin'
      ? t('pin.wrong') : t('error.generic', { message: errorText(r) });
    return;
  }
  const z = r.data.closures[r.data.closures.length - 1];
  await loadX();
  $('reports-status').textContent = t('reports.z_done', { number: z.number, total: money(z.body.totals.total) });
}

async function toggleTraining() {
  $('reports-error').textContent = '';
  const on = !(state.health && state.health.training);
  const m = await askManager(t('reports.training_why'));
  if (!m) return;
  const r = await api('POST', '/v1/training', { on, operator: m.operator, pin: m.pin }).catch(() => null);
  if (!r || r.status !== 200) {
    $('reports-error').textContent = r ? t('error.generic', { message: errorText(r) }) : t('status.network.bad');
    return;
  }
  if (state.health) state.health.training = r.data.training;
  setTraining(r.data.training);
  $('training-toggle').textContent = t(r.data.training ? 'reports.training_off' : 'reports.training');
}
