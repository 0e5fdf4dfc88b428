// The ticket being rung up: the product grid, lines and their quantities, prices and
// discounts, weighed goods, tickets on hold.
'use strict';

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
