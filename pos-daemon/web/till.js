// The web till: sign-in with a PIN pad, the product grid, barcodes from a keyboard-wedge
// scanner or posd's serial scanners, payment, and the change to give.
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


// ---------------------------------------------------------------------------- texts

// ---------------------------------------------------------------------------- API

// ---------------------------------------------------------------------------- sign-in

let pinOperator = null;
let pin = '';

async function showSignIn(message) {
  $('till').hidden = true;
  $('signin').hidden = false;
  closeModals();
  $('operators-panel').hidden = false;
  $('pin-panel').hidden = true;
  pinOperator = null;
  const r = await api('GET', '/v1/session/operators').catch(() => null);
  const list = $('operators');
  list.replaceChildren();
  const operators = r && r.data ? r.data.operators : [];
  if (operators.length === 0) list.textContent = t('signin.none');
  for (const op of operators) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.operator = op.id;
    b.append(op.name);
    const role = document.createElement('small');
    role.textContent = t(`role.${op.role}`);
    b.append(role);
    b.addEventListener('click', () => choosePinOperator(op));
    list.append(b);
  }
  if (message) {
    $('signin-error').textContent = message;
  }
  const first = list.querySelector('button');
  if (first) first.focus();
  // The first screen is usable: what the first-load figure measures.
  performance.mark('till-ready');
}

function choosePinOperator(op) {
  pinOperator = op;
  pin = '';
  $('operators-panel').hidden = true;
  $('pin-panel').hidden = false;
  $('pin-title').textContent = t('pin.title', { name: op.name });
  $('signin-error').textContent = '';
  renderPin();
}

function renderPin() {
  $('pin-dots').textContent = '•'.repeat(pin.length);
  $('pin-ok').disabled = pin.length === 0;
}

function pinKey(key) {
  if (/^\d$/.test(key) && pin.length < 12) pin += key;
  else if (key === 'Backspace') pin = pin.slice(0, -1);
  else if (key === 'Enter') return submitPin();
  else if (key === 'Escape') return showSignIn();
  renderPin();
}

async function submitPin() {
  if (!pinOperator || pin.length === 0) return;
  const body = { operator: pinOperator.id, pin };
  pin = '';
  renderPin();
  let r;
  try {
    r = await api('POST', '/v1/session/sign-in', body);
  } catch (_) {
    $('signin-error').textContent = t('status.network.bad');
    return;
  }
  if (r.status === 200) {
    state.session = r.data;
    await showTill();
  } else if (r.status === 429) {
    const secs = /(\d+) s/.exec(errorText(r));
    $('signin-error').textContent = secs ? t('pin.locked', { secs: secs[1] }) : errorText(r);
  } else if (r.data && r.data.error && r.data.error.code === 'wrong_pin') {
    $('signin-error').textContent = t('pin.wrong');
  } else {
    $('signin-error').textContent = t('error.generic', { message: errorText(r) });
  }
}

async function signOut() {
  if (state.session) await api('POST', '/v1/session/sign-out').catch(() => null);
  state.session = null;
  showSignIn();
}

// ---------------------------------------------------------------------------- catalogue

async function showTill() {
  $('signin').hidden = true;
  $('till').hidden = false;
  $('operator-name').textContent = state.session.name;
  setTraining(state.session.training);
  const r = await api('GET', '/v1/products');
  if (r.status === 200) state.products = r.data.products;
  renderCategories();
  renderProducts();
  renderTicket();
  startEvents();
  pollDevices();
  resumePending();
  performance.mark('till-ready');
}

function categoryOf(p) {
  return p.category || t('category.none');
}

function renderCategories() {
  const names = [...new Set(state.products.map(categoryOf))].sort((a, b) => a.localeCompare(b, state.lang));
  const box = $('categories');
  box.replaceChildren();
  for (const name of [null, ...names]) {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('role', 'tab');
    b.textContent = name === null ? t('category.all') : name;
    b.setAttribute('aria-selected', String(state.category === name));
    b.addEventListener('click', () => { state.category = name; renderCategories(); renderProducts(); });
    box.append(b);
  }
}

function renderProducts() {
  const q = state.search.trim().toLowerCase();
  const shown = state.products.filter((p) => (q
    ? p.label.toLowerCase().includes(q) || p.sku.toLowerCase().includes(q)
    : state.category === null || categoryOf(p) === state.category));
  const grid = $('products');
  grid.replaceChildren();
  for (const p of shown) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.sku = p.sku;
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = p.label;
    const price = document.createElement('span');
    price.className = 'price';
    price.textContent = p.unit === 'kg' ? t('line.per_kg', { price: money(p.price_cents) }) : money(p.price_cents);
    b.append(label, price);
    b.addEventListener('click', () => addProduct(p));
    grid.append(b);
  }
}

// ---------------------------------------------------------------------------- the ticket

// The line's amount before its discount: the label's price, or the unit price (the catalogue's
// or the one a manager set) times the quantity, rounded as the journal rounds.
function lineGross(l) {
  if (l.fixedCents !== undefined) return l.fixedCents;
  const price = l.override ?? l.price;
  if (l.unit === 'kg') return Math.round((price * l.grams) / 1000);
  return price * l.qty;
}

function lineAmount(l) {
  return lineGross(l) - (l.discount || 0);
}

function ticketTotal() {
  return state.lines.reduce((sum, l) => sum + lineAmount(l), 0) - state.ticketDiscount;
}

function addProduct(p, grams) {
  if (p.unit === 'kg' && grams === undefined) return askWeight(p);
  const lastSale = $('done-modal').hidden === false;
  if (lastSale) newSale();
  if (p.unit === 'kg') {
    state.lines.push({ sku: p.sku, label: p.label, unit: 'kg', price: p.price_cents, grams });
    state.selected = state.lines.length - 1;
  } else {
    const i = state.lines.findIndex((l) => l.sku === p.sku && l.unit !== 'kg' && l.fixedCents === undefined
      && l.override === undefined && !l.discount);
    if (i >= 0) {
      state.lines[i].qty += 1;
      state.selected = i;
    } else {
      state.lines.push({ sku: p.sku, label: p.label, unit: 'piece', price: p.price_cents, qty: 1 });
      state.selected = state.lines.length - 1;
    }
  }
  renderTicket();
}

// A code read from a weight- or price-embedded label is sold by its code: posd reads the weight
// or price again from it, as the journal records it.
function addScanned(lookup) {
  const p = lookup.product;
  if (lookup.weight_grams === null && lookup.price_cents === null) return addProduct(p, p.unit === 'kg' ? undefined : 0);
  if ($('done-modal').hidden === false) newSale();
  const line = { sku: p.sku, label: p.label, unit: p.unit, price: p.price_cents, barcode: lookup.code };
  if (lookup.price_cents !== null) line.fixedCents = lookup.price_cents;
  else line.grams = lookup.weight_grams;
  state.lines.push(line);
  state.selected = state.lines.length - 1;
  renderTicket();
}

function requestLine(l) {
  let line;
  if (l.barcode) line = { barcode: l.barcode };
  else if (l.unit === 'kg') line = { sku: l.sku, weight_grams: l.grams };
  else line = { sku: l.sku, quantity: l.qty };
  if (l.discount) line.discount_cents = l.discount;
  if (l.override !== undefined) line.unit_price_cents = l.override;
  return line;
}

function renderTicket() {
  const ol = $('lines');
  ol.replaceChildren();
  state.lines.forEach((l, i) => {
    const li = document.createElement('li');
    if (i === state.selected) li.className = 'just-added';
    const label = document.createElement('span');
    label.className = 'l-label';
    label.textContent = l.label;
    const amount = document.createElement('span');
    amount.className = 'l-amount';
    amount.textContent = money(lineAmount(l));
    const detail = document.createElement('span');
    detail.className = 'l-detail';
    const price = l.override ?? l.price;
    let text;
    if (l.fixedCents !== undefined) text = t('line.embedded_price');
    else if (l.unit === 'kg') text = `${(l.grams / 1000).toFixed(3)} kg × ${t('line.per_kg', { price: money(price) })}`;
    else text = `${l.qty} × ${money(price)}`;
    if (l.override !== undefined) text += ` · ${t('line.price_changed')}`;
    if (l.discount) text += ` · ${t('line.discount_detail', { amount: money(l.discount) })}`;
    detail.textContent = text;
    const actions = document.createElement('span');
    actions.className = 'l-actions';
    if (l.unit !== 'kg' && l.fixedCents === undefined) {
      actions.append(
        lineButton('−', t('line.less'), () => { l.qty -= 1; if (l.qty <= 0) removeLine(i); else renderTicket(); }),
        lineButton('+', t('line.more'), () => { l.qty += 1; renderTicket(); }),
        lineButton(t('line.quantity'), t('line.quantity'), () => editQuantity(l), 'qty'),
      );
    }
    if (l.fixedCents === undefined) actions.append(lineButton(t('line.price'), t('line.price'), () => editPrice(l), 'price'));
    actions.append(
      lineButton(t('line.discount'), t('line.discount'), () => editDiscount(l), 'discount'),
      lineButton('✕', t('line.remove'), () => removeLine(i)),
    );
    li.append(label, amount, detail, actions);
    ol.append(li);
  });
  $('ticket-empty').hidden = state.lines.length > 0;
  $('ticket-discount-row').hidden = state.ticketDiscount === 0;
  $('ticket-discount').textContent = `− ${money(state.ticketDiscount)}`;
  $('ticket-total').textContent = money(ticketTotal());
  const empty = state.lines.length === 0;
  $('pay').disabled = empty;
  $('clear-ticket').disabled = empty;
  $('hold-ticket').disabled = empty;
  $('discount-ticket').disabled = empty;
  $('recall-ticket').textContent = t('ticket.recall', { count: state.held.length });
  $('recall-ticket').disabled = state.held.length === 0;
  const sel = ol.children[state.selected];
  if (sel) sel.scrollIntoView({ block: 'nearest' });
}

function lineButton(text, label, onClick, action) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  if (action) b.dataset.action = action;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

function removeLine(i) {
  state.lines.splice(i, 1);
  state.selected = Math.min(state.selected, state.lines.length - 1);
  renderTicket();
}

function newSale() {
  state.lines = [];
  state.ticketDiscount = 0;
  state.payments = [];
  state.selected = -1;
  closeModals();
  renderTicket();
}

// ---------------------------------------------------------------------------- typed quantities, prices, discounts

// Asks a value in a dialog; resolves to {value, unit} (`unit`: 'money' in cents, 'percent',
// or 'qty'), or null when cancelled.
let entryAsk = null;

function askEntry(title, kind, initial) {
  return new Promise((resolve) => {
    entryAsk = { resolve, kind, unit: 'money' };
    $('entry-title').textContent = title;
    $('entry-input').value = initial ?? '';
    $('entry-input').inputMode = kind === 'qty' ? 'numeric' : 'decimal';
    $('entry-units').hidden = kind !== 'discount';
    $('entry-error').textContent = '';
    renderEntryUnits();
    $('entry-modal').hidden = false;
    $('entry-input').focus();
    $('entry-input').select();
  });
}

function renderEntryUnits() {
  document.querySelectorAll('[data-entry-unit]').forEach((b) => {
    b.setAttribute('aria-pressed', String(entryAsk && b.dataset.entryUnit === entryAsk.unit));
  });
}

function finishEntry(ok) {
  const a = entryAsk;
  if (!a) return;
  let value = null;
  if (ok) {
    const text = $('entry-input').value.trim();
    if (a.kind === 'qty') value = /^\d{1,6}$/.test(text) && Number(text) > 0 ? Number(text) : null;
    else if (a.unit === 'percent') value = /^\d{1,3}([.,]\d{1,2})?$/.test(text) && Number(text.replace(',', '.')) <= 100 ? Number(text.replace(',', '.')) : null;
    else value = parseEuros(text);
    if (value === null) { $('entry-error').textContent = t('entry.invalid'); return; }
  }
  entryAsk = null;
  $('entry-modal').hidden = true;
  a.resolve(ok ? { value, unit: a.kind === 'qty' ? 'qty' : a.unit } : null);
}

async function editQuantity(l) {
  const r = await askEntry(t('entry.quantity', { label: l.label }), 'qty', String(l.qty));
  if (r) { l.qty = r.value; renderTicket(); }
}

async function editPrice(l) {
  const r = await askEntry(t('entry.price', { label: l.label }), 'money', centsToInput(l.override ?? l.price));
  if (!r) return;
  if (r.value === l.price) delete l.override; else l.override = r.value;
  l.discount = Math.min(l.discount || 0, lineGross(l));
  renderTicket();
}

function discountOf(r, base) {
  const cents = r.unit === 'percent' ? Math.round((base * r.value) / 100) : r.value;
  return Math.max(0, Math.min(cents, base));
}

async function editDiscount(l) {
  const r = await askEntry(t('entry.discount', { label: l.label }), 'discount', l.discount ? centsToInput(l.discount) : '');
  if (!r) return;
  l.discount = discountOf(r, lineGross(l));
  renderTicket();
}

async function editTicketDiscount() {
  const r = await askEntry(t('entry.ticket_discount'), 'discount', state.ticketDiscount ? centsToInput(state.ticketDiscount) : '');
  if (!r) return;
  state.ticketDiscount = 0;
  state.ticketDiscount = discountOf(r, ticketTotal());
  renderTicket();
}

// ---------------------------------------------------------------------------- tickets on hold

// Kept in this browser (a ticket on hold is this till's), with the operator who held it.
function loadHeld() {
  try { state.held = JSON.parse(localStorage.getItem(HELD_KEY) || '[]'); } catch (_) { state.held = []; }
}

function saveHeld() {
  localStorage.setItem(HELD_KEY, JSON.stringify(state.held));
}

function holdTicket() {
  if (state.lines.length === 0) return;
  state.held.push({ at: Date.now(), lines: state.lines, ticketDiscount: state.ticketDiscount });
  saveHeld();
  newSale();
}

function openHeld() {
  const ol = $('held-list');
  ol.replaceChildren();
  state.held.forEach((h, i) => {
    const li = document.createElement('li');
    li.tabIndex = 0;
    li.dataset.held = String(i);
    const total = h.lines.reduce((s, l) => s + lineAmount(l), 0) - (h.ticketDiscount || 0);
    const time = new Date(h.at).toLocaleTimeString(state.lang === 'fr' ? 'fr-FR' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
    li.textContent = t('held.item', { time, count: h.lines.length, total: money(total) });
    li.addEventListener('click', () => recall(i));
    ol.append(li);
  });
  $('held-modal').hidden = false;
}

function recall(i) {
  const [h] = state.held.splice(i, 1);
  if (state.lines.length > 0) state.held.push({ at: Date.now(), lines: state.lines, ticketDiscount: state.ticketDiscount });
  saveHeld();
  $('held-modal').hidden = true;
  state.lines = h.lines;
  state.ticketDiscount = h.ticketDiscount || 0;
  state.selected = state.lines.length - 1;
  renderTicket();
}

// ---------------------------------------------------------------------------- weighed goods

function askWeight(p) {
  state.weighing = p;
  $('weight-title').textContent = t('weight.title', { label: p.label });
  $('weight-input').value = '';
  $('weight-error').textContent = '';
  $('weight-modal').hidden = false;
  $('weight-input').focus();
}

function confirmWeight() {
  const grams = Number($('weight-input').value.trim());
  if (!Number.isInteger(grams) || grams < 1 || grams > 100000) {
    $('weight-error').textContent = t('weight.invalid');
    return;
  }
  const p = state.weighing;
  $('weight-modal').hidden = true;
  state.weighing = null;
  addProduct(p, grams);
}

// ---------------------------------------------------------------------------- barcodes

async function scan(code) {
  let r;
  try {
    r = await api('GET', `/v1/products/by-barcode/${encodeURIComponent(code)}`);
  } catch (_) {
    return;
  }
  if (r.status === 200) {
    alertBar('');
    addScanned(r.data);
  } else if (r.data && r.data.error && r.data.error.code === 'bad_barcode') {
    alertBar(t('scan.bad', { code }));
  } else {
    alertBar(t('scan.unknown', { code }));
  }
}

let scanBuffer = '';
let scanLast = 0;

function onKey(e) {
  if (!$('signin').hidden && !$('pin-panel').hidden) {
    if (/^\d$/.test(e.key) || ['Backspace', 'Enter', 'Escape'].includes(e.key)) {
      e.preventDefault();
      pinKey(e.key);
    }
    return;
  }
  if ($('till').hidden) return;
  if (!$('entry-modal').hidden) {
    if (e.key === 'Enter') { e.preventDefault(); finishEntry(true); }
    if (e.key === 'Escape') { e.preventDefault(); finishEntry(false); }
    return;
  }
  if (!$('held-modal').hidden) {
    if (e.key === 'Escape') $('held-modal').hidden = true;
    return;
  }
  if (!$('manager-modal').hidden) {
    if (/^\d$/.test(e.key) || ['Backspace', 'Enter', 'Escape'].includes(e.key)) {
      e.preventDefault();
      managerKey(e.key);
    }
    return;
  }
  if (!$('refund-modal').hidden) {
    if (e.key === 'Enter' && e.target.id === 'refund-find') { e.preventDefault(); findOriginal(); }
    if (e.key === 'Escape') $('refund-modal').hidden = true;
    return;
  }
  if (!$('reports-modal').hidden) {
    if (e.key === 'Escape') $('reports-modal').hidden = true;
    return;
  }
  const inField = e.target instanceof HTMLInputElement;
  if (!$('weight-modal').hidden) {
    if (e.key === 'Enter') { e.preventDefault(); confirmWeight(); }
    if (e.key === 'Escape') { $('weight-modal').hidden = true; }
    return;
  }
  if (!$('pay-modal').hidden) return payKey(e);
  if (!$('done-modal').hidden && e.key === 'Enter' && scanBuffer === '') {
    e.preventDefault();
    newSale();
    return;
  }
  if (inField && e.target.id === 'search') {
    if (e.key === 'Enter') {
      const v = e.target.value.trim();
      if (/^\d{8,14}$/.test(v)) { e.preventDefault(); e.target.value = ''; state.search = ''; renderProducts(); scan(v); }
    } else if (e.key === 'Escape') {
      e.target.value = ''; state.search = ''; renderProducts(); e.target.blur();
    }
    return;
  }
  const now = performance.now();
  if (e.key === 'Enter') {
    if (scanBuffer.length > 0) {
      e.preventDefault();
      const code = scanBuffer;
      scanBuffer = '';
      scan(code);
    } else if (state.lines.length > 0 && !(e.target instanceof HTMLButtonElement)) {
      e.preventDefault();
      openPay();
    }
    return;
  }
  if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) {
    if (now - scanLast > SCAN_GAP_MS) scanBuffer = '';
    scanBuffer += e.key;
    scanLast = now;
    e.preventDefault();
  }
}

// posd's serial scanners and devices, through its event stream (the cookie goes with it).
let events = null;
function startEvents() {
  if (events) return;
  events = new EventSource('/v1/events');
  events.addEventListener('scan', (ev) => {
    const s = JSON.parse(ev.data);
    if (s.found && s.product) addScanned(s);
    else alertBar(t('scan.unknown', { code: s.code }));
  });
  events.addEventListener('printer', () => pollHealth());
  events.addEventListener('health', () => pollHealth());
}

// ---------------------------------------------------------------------------- payment

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
  $('done-modal').hidden = false;
  $('done-next').focus();
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

// ---------------------------------------------------------------------------- a manager's approval

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

// ---------------------------------------------------------------------------- returns and voids

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
  $('done-modal').hidden = false;
  $('done-next').focus();
}

// ---------------------------------------------------------------------------- X and Z

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

// ---------------------------------------------------------------------------- status

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
