// Payment: cash with the change, card, meal voucher, cheque, split; the sale sent under its
// idempotency key until posd answers; the receipt asked for, the duplicate.
'use strict';

function remaining() {
  return ticketTotal() - state.payments.reduce((s, p) => s + p.amount_cents, 0);
}

function openPay() {
  if (state.lines.length === 0) return;
  state.payments = [];
  $('pay-error').textContent = '';
  $('pay-status').textContent = '';
  $('pay-modal').hidden = false;
  renderPay();
  $('pay-amount').focus();
  $('pay-amount').select();
}

function renderPay() {
  const left = remaining();
  $('pay-remaining').textContent = money(Math.max(left, 0));
  $('pay-amount').value = centsToInput(Math.max(left, 0));
  const ul = $('pay-list');
  ul.replaceChildren();
  for (const p of state.payments) {
    const li = document.createElement('li');
    const m = document.createElement('span');
    m.textContent = t(`method.${p.method}`);
    const a = document.createElement('strong');
    a.textContent = money(p.amount_cents);
    li.append(m, a);
    ul.append(li);
  }
}

function addPayment(method, cents) {
  if (state.pending) return;
  if (cents === null || cents <= 0) {
    $('pay-error').textContent = t('pay.invalid');
    return;
  }
  // Only cash gives change: another method pays at most what is left.
  const left = remaining();
  const amount = method === 'cash' ? cents : Math.min(cents, left);
  state.payments.push({ method, amount_cents: amount });
  $('pay-error').textContent = '';
  if (remaining() <= 0) submitSale();
  else renderPay();
}

function payKey(e) {
  const methods = { F1: 'cash', F2: 'card', F3: 'meal_voucher', F4: 'cheque' };
  if (e.key === 'Escape') { e.preventDefault(); closePay(); return; }
  if (e.key === 'Enter' || methods[e.key]) {
    e.preventDefault();
    addPayment(methods[e.key] || 'cash', parseEuros($('pay-amount').value));
  }
}

function closePay() {
  if (state.pending) return;
  state.payments = [];
  $('pay-modal').hidden = true;
}

async function submitSale() {
  const body = {
    operator: state.session.operator,
    lines: state.lines.map(requestLine),
    payments: state.payments,
  };
  if (state.ticketDiscount) body.ticket_discount_cents = state.ticketDiscount;
  state.pending = { key: randomKey(), body, lines: state.lines };
  localStorage.setItem(PENDING_KEY, JSON.stringify(state.pending));
  await sendPending();
}

// Sends the pending sale until posd gives a definite answer: a network failure, a request in
// flight under the same key (409 idempotency_in_progress) or an outcome posd could not know
// (503) are tried again under the same key, which posd answers as the first time.
async function sendPending() {
  const p = state.pending;
  if (!p) return;
  $('pay-modal').hidden = false;
  document.querySelectorAll('#pay-modal button').forEach((b) => { b.disabled = true; });
  $('pay-status').textContent = t('pay.sending');
  for (;;) {
    const r = await postKeyed('/v1/sales', p.body, p.key, (why) => { $('pay-status').textContent = why; });
    const code = r.data && r.data.error ? r.data.error.code : null;
    if (r.status === 401) return; // signed out: sent again after the next sign-in
    if (r.status === 403 && code === 'manager_required') {
      // A price changed or a discount beyond the cashier's share: a manager approves on the
      // spot; the approved request is a new one (new key: the refused one recorded nothing).
      const m = await askManager(t('manager.sale_why'));
      if (m) {
        p.body = { ...p.body, manager: m.operator, manager_pin: m.pin };
        p.key = randomKey();
        localStorage.setItem(PENDING_KEY, JSON.stringify(p));
        continue;
      }
    }
    state.pending = null;
    localStorage.removeItem(PENDING_KEY);
    document.querySelectorAll('#pay-modal button').forEach((b) => { b.disabled = false; });
    $('pay-status').textContent = '';
    if (r.status === 200) return saleDone(r.data);
    state.payments = [];
    renderPay();
    $('pay-error').textContent = t('error.generic', { message: errorText(r) });
    return;
  }
}

function resumePending() {
  const saved = localStorage.getItem(PENDING_KEY);
  if (!saved || state.pending) return;
  try {
    const p = JSON.parse(saved);
    if (p.body.operator !== state.session.operator) return;
    state.pending = p;
    state.lines = p.lines || [];
    state.payments = p.body.payments;
    renderTicket();
    renderPay();
    sendPending();
  } catch (_) {
    localStorage.removeItem(PENDING_KEY);
  }
}

function saleDone(sale) {
  state.lastSale = sale;
  $('pay-modal').hidden = true;
  // The payments as journaled (`amount` in cents).
  const paid = sale.payments.reduce((s, p) => s + p.amount, 0);
  $('done-title').textContent = t('done.title', { number: sale.ticket_number });
  $('done-change').textContent = money(sale.change_cents);
  $('done-detail').textContent = t('done.detail', { total: money(sale.total_cents), paid: money(paid) });
  state.lines = [];
  state.payments = [];
  state.selected = -1;
  renderTicket();
  // The customer is asked: the receipt prints only if wanted (`receipts = "on_request"`).
  $('done-print').hidden = !state.session.receipts_on_request;
  $('done-modal').hidden = false;
  $('done-next').focus();
}

async function printReceipt() {
  if (!state.lastSale) return;
  const r = await api('POST', `/v1/tickets/${state.lastSale.seq}/print`, { operator: state.session.operator }).catch(() => null);
  if (r && r.status === 200) {
    $('done-print').hidden = true;
    $('done-detail').textContent = t('done.print_sent');
  } else {
    $('done-detail').textContent = r ? t('error.generic', { message: errorText(r) }) : t('status.network.bad');
  }
}

async function duplicate() {
  if (!state.lastSale) return;
  const r = await api('POST', `/v1/tickets/${state.lastSale.seq}/reprint`, {
    operator: state.session.operator, reason: 'duplicata demandé par le client',
  }).catch(() => null);
  $('done-detail').textContent = r && r.status === 200 ? t('done.duplicate_sent') : t('error.generic', { message: r ? errorText(r) : t('status.network.bad') });
}

function closeModals() {
  for (const id of ['weight-modal', 'done-modal', 'refund-modal', 'reports-modal', 'held-modal']) $(id).hidden = true;
  if (managerAsk) finishManager(false);
  if (entryAsk) finishEntry(false);
  if (!state.pending) $('pay-modal').hidden = true;
}
