// The web till: its state and its start (loaded last). Its parts, each in a file of its own:
// till-signin.js (sign-in), till-ticket.js (the ticket), till-scan.js (barcodes and keys),
// till-pay.js (payment), till-manager.js (a manager's approval), till-returns.js (returns and
// voids), till-reports.js (X and Z), till-status.js (what is always on screen).
//
// It talks to posd's API with the browser session's cookie (never a configured token); every
// write carries the session's CSRF token. A sale is sent under an Idempotency-Key made when the
// ticket is paid and kept (with the ticket) in localStorage until posd answers: a lost network
// or a reload sends it again under the same key, so a sale is neither lost nor recorded twice.
'use strict';

const PENDING_KEY = 'posd.pendingSale';
const HELD_KEY = 'posd.heldTickets';
// Keys typed closer together than this are a scanner's; a human's typing resets the buffer.
const SCAN_GAP_MS = 60;
const HEALTH_EVERY_MS = 1000;
// The scanners and the online shop change slowly: asked less often.
const DEVICES_EVERY_MS = 5000;

Object.assign(state, {
  register: '',
  products: [],
  category: null,
  search: '',
  lines: [],
  ticketDiscount: 0,
  held: [],
  selected: -1,
  payments: [],
  pending: null,
  weighing: null,
  lastSale: null,
  health: null,
});

// ---------------------------------------------------------------------------- start

function wire() {
  document.addEventListener('keydown', onKey);
  document.querySelectorAll('#pinpad [data-digit]').forEach((b) => b.addEventListener('click', () => pinKey(b.dataset.digit)));
  $('pin-erase').addEventListener('click', () => pinKey('Backspace'));
  $('pin-back').addEventListener('click', () => showSignIn());
  $('pin-ok').addEventListener('click', () => submitPin());
  $('switch-operator').addEventListener('click', () => signOut());
  $('confirm-clock').addEventListener('click', () => confirmClock());
  $('search').addEventListener('input', (e) => { state.search = e.target.value; renderProducts(); });
  $('pay').addEventListener('click', () => openPay());
  $('hold-ticket').addEventListener('click', () => holdTicket());
  $('recall-ticket').addEventListener('click', () => openHeld());
  $('held-close').addEventListener('click', () => { $('held-modal').hidden = true; });
  $('discount-ticket').addEventListener('click', () => editTicketDiscount());
  $('entry-ok').addEventListener('click', () => finishEntry(true));
  $('entry-cancel').addEventListener('click', () => finishEntry(false));
  document.querySelectorAll('[data-entry-unit]').forEach((b) => b.addEventListener('click', () => {
    if (entryAsk) { entryAsk.unit = b.dataset.entryUnit; renderEntryUnits(); $('entry-input').focus(); }
  }));
  $('clear-ticket').addEventListener('click', () => newSale());
  $('weight-ok').addEventListener('click', () => confirmWeight());
  $('weight-cancel').addEventListener('click', () => { $('weight-modal').hidden = true; });
  document.querySelectorAll('#notes [data-note]').forEach((b) => b.addEventListener('click', () => addPayment('cash', Number(b.dataset.note))));
  document.querySelectorAll('[data-method]').forEach((b) => b.addEventListener('click', () => addPayment(b.dataset.method, parseEuros($('pay-amount').value))));
  $('pay-cancel').addEventListener('click', () => closePay());
  $('done-next').addEventListener('click', () => newSale());
  $('done-duplicate').addEventListener('click', () => duplicate());
  $('done-print').addEventListener('click', () => printReceipt());
  document.querySelectorAll('#manager-pad [data-mdigit]').forEach((b) => b.addEventListener('click', () => managerKey(b.dataset.mdigit)));
  $('manager-erase').addEventListener('click', () => managerKey('Backspace'));
  $('manager-cancel').addEventListener('click', () => finishManager(false));
  $('manager-ok').addEventListener('click', () => finishManager(true));
  $('open-refund').addEventListener('click', () => openRefund());
  $('refund-find-go').addEventListener('click', () => findOriginal());
  $('refund-go').addEventListener('click', () => submitRefund(false));
  $('refund-void').addEventListener('click', () => submitRefund(true));
  $('refund-cancel').addEventListener('click', () => { $('refund-modal').hidden = true; });
  document.querySelectorAll('[data-refund-method]').forEach((b) => b.addEventListener('click', () => {
    refund.method = b.dataset.refundMethod;
    if (refund.original) renderRefund();
  }));
  $('open-reports').addEventListener('click', () => openReports());
  $('reports-close').addEventListener('click', () => { $('reports-modal').hidden = true; });
  $('x-print').addEventListener('click', () => printX());
  $('z-close').addEventListener('click', () => closeDay());
  $('training-toggle').addEventListener('click', () => toggleTraining());
  document.querySelectorAll('[data-lang-switch]').forEach((b) => b.addEventListener('click', async () => {
    await switchLanguage();
    renderPills();
    if (state.session) { renderCategories(); renderProducts(); renderTicket(); }
  }));
}

async function start() {
  wire();
  loadHeld();
  hooks.onlineChanged = () => renderPills();
  hooks.sessionEnded = () => showSignIn(t('error.session_expired'));
  await loadTexts(savedLanguage());
  pollHealth();
  setInterval(pollHealth, HEALTH_EVERY_MS);
  setInterval(pollDevices, DEVICES_EVERY_MS);
  const r = await api('GET', '/v1/session').catch(() => null);
  if (r && r.status === 200) {
    state.session = r.data;
    await showTill();
  } else {
    showSignIn();
  }
}

start();
