// What is always on screen: posd reachable, the printer, the journal, the scanners, the online
// shop, training mode; the clock's date confirmed by a manager.
'use strict';

function setTraining(on) {
  $('training-banner').hidden = !on;
}

async function pollHealth() {
  try {
    const res = await fetch('/v1/health', { cache: 'no-store' });
    state.health = await res.json();
    noteOnline(true);
    setTraining(state.health.training);
    $('till-register').textContent = state.health.register_id;
    $('signin-register').textContent = state.health.register_id;
  } catch (_) {
    noteOnline(false);
  }
  renderPills();
}

function pill(id, cls, text) {
  const el = $(id);
  el.className = `pill ${cls}`;
  el.textContent = text;
}

function renderPills() {
  pill('pill-network', state.online ? 'ok' : 'bad', t(state.online ? 'status.network.ok' : 'status.network.bad'));
  const h = state.health;
  if (!h) return;
  const pr = h.printer;
  let cls = 'ok';
  let text = t('status.printer.ok');
  if (!pr.configured) { cls = 'warn'; text = t('status.printer.none'); } else if (pr.faults.length > 0) {
    cls = 'bad';
    text = pr.faults.map((f) => state.texts[`status.printer.${f}`] ?? t('status.printer.fault')).join(', ');
  } else if (pr.state === 'fault') { cls = 'bad'; text = pr.error || t('status.printer.fault'); } else if (pr.state === 'unknown') { cls = 'warn'; text = t('status.printer.unknown'); } else if (pr.paper_near_end) { cls = 'warn'; text = t('status.printer.paper_near_end'); }
  pill('pill-printer', cls, text);
  if (h.status === 'ok') pill('pill-journal', 'ok', t('status.journal.ok'));
  else if (h.status === 'clock_ahead') pill('pill-journal', 'bad', t('status.journal.clock_ahead'));
  else pill('pill-journal', 'bad', t('status.journal.bad'));
  $('confirm-clock').hidden = h.status !== 'clock_ahead' || !state.session;
  const d = state.devices;
  $('pill-scanners').hidden = !d || d.scanners.length === 0;
  if (d && d.scanners.length > 0) {
    const all = d.scanners.every((sc) => sc.state === 'connected');
    pill('pill-scanners', all ? 'ok' : 'bad', t(all ? 'status.scanners.ok' : 'status.scanners.bad'));
  }
  const y = state.sync;
  $('pill-sync').hidden = !y || !y.configured;
  if (y && y.configured) {
    const failing = y.shops.some((sh) => sh.last_error);
    const waiting = y.shops.reduce((n, sh) => n + sh.backlog.pending + sh.backlog.inflight, 0);
    if (failing) pill('pill-sync', 'bad', t('status.sync.bad'));
    else if (waiting > 0) pill('pill-sync', 'warn', t('status.sync.pending', { count: waiting }));
    else pill('pill-sync', 'ok', t('status.sync.ok'));
  }
}

async function pollDevices() {
  if (!state.session) return;
  const d = await api('GET', '/v1/devices').catch(() => null);
  if (d && d.status === 200) state.devices = d.data;
  const y = await api('GET', '/v1/sync').catch(() => null);
  if (y && y.status === 200) state.sync = y.data;
  renderPills();
}

async function confirmClock() {
  const ahead = state.health && state.health.clock_ahead;
  const date = ahead ? new Date(ahead.clock_ms).toLocaleString(state.lang === 'fr' ? 'fr-FR' : 'en-GB') : '';
  const m = await askManager(t('clock.why', { date }));
  if (!m) return;
  const r = await api('POST', '/v1/clock/confirm', { operator: m.operator, pin: m.pin }).catch(() => null);
  alertBar(r && r.status === 200 ? t('clock.confirmed') : t('error.generic', { message: r ? errorText(r) : t('status.network.bad') }));
  pollHealth();
}

function alertBar(text) {
  $('till-alert').textContent = text;
  $('till-alert').hidden = !text;
}
