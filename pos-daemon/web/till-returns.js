// Returns and voids: the original found by its receipt's code or its number, what remains of
// it returned, a manager when posd says so.
'use strict';

const refund = { original: null, picked: new Set(), method: 'cash' };

function openRefund() {
  refund.original = null;
  refund.picked.clear();
  $('refund-find').value = '';
  $('refund-error').textContent = '';
  $('refund-original').hidden = true;
  $('refund-modal').hidden = false;
  $('refund-find').focus();
}

// A receipt's code (scanned from its QR code) names the sale's sequence number; a number typed
// is the one printed on the receipt.
async function findOriginal() {
  const v = $('refund-find').value.trim();
  let path = null;
  if (v.startsWith('POSR1*')) {
    const seq = v.split('*')[2];
    if (/^\d+$/.test(seq || '')) path = `/v1/tickets/${seq}`;
  } else if (/^\d{1,12}$/.test(v)) {
    path = `/v1/tickets/by-number/${v}`;
  }
  $('refund-error').textContent = '';
  if (!path) { $('refund-error').textContent = t('refund.not_found', { number: v }); return; }
  let r;
  try { r = await api('GET', path); } catch (_) { $('refund-error').textContent = t('status.network.bad'); return; }
  if (r.status === 404) { $('refund-error').textContent = t('refund.not_found', { number: v }); return; }
  if (r.status !== 200) { $('refund-error').textContent = t('error.generic', { message: errorText(r) }); return; }
  if (r.data.kind !== 'sale') { $('refund-error').textContent = t('refund.not_a_sale'); return; }
  refund.original = r.data;
  refund.picked.clear();
  $('refund-original').hidden = false;
  renderRefund();
}

// What remains of line `i` of the original: its quantity and amount less what earlier refunds
// returned (posd gives those with the sale).
function remainingOf(i) {
  const o = refund.original;
  const l = o.body.lines[i];
  const back = ((o.returned && o.returned.lines) || []).find((r) => r.original_line === i);
  return {
    quantity: l.quantity - (back ? back.quantity_milli : 0),
    amount: l.total - (back ? back.amount_cents : 0),
  };
}

function refundTotal() {
  return [...refund.picked].reduce((sum, i) => sum + remainingOf(i).amount, 0);
}

function remainingLines() {
  return refund.original.body.lines.map((_, i) => i).filter((i) => remainingOf(i).quantity > 0);
}

function renderRefund() {
  const o = refund.original;
  $('refund-original-title').textContent = t('refund.original', {
    number: o.number,
    date: new Date(o.timestamp_ms).toLocaleString(state.lang === 'fr' ? 'fr-FR' : 'en-GB'),
    total: money(o.body.total),
  });
  const ol = $('refund-lines');
  ol.replaceChildren();
  o.body.lines.forEach((l, i) => {
    const left = remainingOf(i);
    const li = document.createElement('li');
    li.dataset.line = String(i);
    li.setAttribute('aria-selected', String(refund.picked.has(i)));
    li.setAttribute('aria-disabled', String(left.quantity <= 0));
    li.tabIndex = 0;
    const label = document.createElement('span');
    label.className = 'l-label';
    label.textContent = l.label;
    const amount = document.createElement('span');
    amount.className = 'l-amount';
    amount.textContent = money(left.amount);
    const detail = document.createElement('span');
    detail.className = 'l-detail';
    detail.textContent = left.quantity <= 0 ? t('refund.already')
      : (l.unit === 'kg' ? `${(left.quantity / 1000).toFixed(3)} kg` : `${left.quantity / 1000} ×`);
    li.append(label, amount, detail);
    li.addEventListener('click', () => {
      if (left.quantity <= 0) return;
      if (refund.picked.has(i)) refund.picked.delete(i); else refund.picked.add(i);
      renderRefund();
    });
    ol.append(li);
  });
  $('refund-total').textContent = money(refund.picked.size ? refundTotal() : 0);
  $('refund-go').disabled = refund.picked.size === 0;
  $('refund-void').disabled = remainingLines().length === 0;
  document.querySelectorAll('[data-refund-method]').forEach((b) => {
    b.setAttribute('aria-pressed', String(b.dataset.refundMethod === refund.method));
  });
}

async function submitRefund(isVoid) {
  const o = refund.original;
  if (!o) return;
  const picked = isVoid ? remainingLines() : [...refund.picked].sort((a, b) => a - b);
  const total = picked.reduce((sum, i) => sum + remainingOf(i).amount, 0);
  const body = {
    operator: state.session.operator,
    original_seq: o.seq,
    reason: $('refund-reason').selectedOptions[0].textContent,
    // What remains of each line picked (a void: of every line), returned whole.
    lines: picked.map((i) => ({ original_line: i, quantity_milli: remainingOf(i).quantity })),
    payments: [{ method: refund.method, amount_cents: total }],
    void: isVoid,
  };
  $('refund-error').textContent = '';
  // Money goes out once: the refund is sent under one key until posd answers for sure.
  const waiting = (why) => { $('refund-error').textContent = why; };
  const buttons = document.querySelectorAll('#refund-modal button');
  buttons.forEach((b) => { b.disabled = true; });
  let r = await postKeyed('/v1/refunds', body, randomKey(), waiting);
  if (r.status === 403 && r.data && r.data.error.code === 'manager_required') {
    const why = isVoid ? t('refund.void_why', { number: o.number }) : t('refund.why', { total: money(total) });
    const m = await askManager(why);
    if (m) r = await postKeyed('/v1/refunds', { ...body, manager: m.operator, manager_pin: m.pin }, randomKey(), waiting);
  }
  buttons.forEach((b) => { b.disabled = false; });
  renderRefund();
  if (r.status !== 200) {
    $('refund-error').textContent = r.data && r.data.error && r.data.error.code === 'wrong_pin'
      ? t('pin.wrong') : t('error.generic', { message: errorText(r) });
    return;
  }
  $('refund-modal').hidden = true;
  state.lastSale = r.data;
  $('done-title').textContent = t('refund.done', { number: r.data.ticket_number });
  $('done-change').textContent = money(Math.abs(r.data.total_cents));
  $('done-detail').textContent = '';
  $('done-print').hidden = !state.session.receipts_on_request;
  $('done-modal').hidden = false;
  $('done-next').focus();
}
