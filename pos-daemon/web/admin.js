// The back office: a manager signs in and keeps the catalogue (products, prices, VAT rates,
// barcodes, categories, stock tracking), the stock (levels, receptions, counts), reads the day's
// figures, verifies and archives the journal, and keeps the merchant's details and the online
// shop's sync. Every change is a manager action for posd: the manager's PIN goes with it, as with
// any client.
'use strict';

Object.assign(state, {
  products: [],
  vatRates: [],
  editing: null,
  search: '',
  section: 'catalogue',
  stockLines: [],
});

const SECTIONS = ['catalogue', 'stock', 'day', 'journal', 'shop', 'operators'];

// ---------------------------------------------------------------------------- sign-in

async function showSignIn(message) {
  $('catalogue').hidden = true;
  $('sections').hidden = true;
  $('admin-sign-out').hidden = true;
  $('admin-who').textContent = '';
  $('admin-signin').hidden = false;
  $('admin-signin-error').textContent = message || '';
  const r = await api('GET', '/v1/session/operators').catch(() => null);
  const select = $('signin-manager');
  select.replaceChildren();
  for (const op of (r && r.data ? r.data.operators : []).filter((o) => o.role === 'manager')) {
    const o = document.createElement('option');
    o.value = op.id;
    o.textContent = op.name;
    select.append(o);
  }
  $('signin-pin').value = '';
  $('signin-pin').focus();
}

async function signIn() {
  const body = { operator: $('signin-manager').value, pin: $('signin-pin').value };
  $('signin-pin').value = '';
  let r;
  try { r = await api('POST', '/v1/session/sign-in', body); } catch (_) {
    $('admin-signin-error').textContent = t('status.network.bad');
    return;
  }
  if (r.status !== 200) {
    const code = r.data && r.data.error ? r.data.error.code : '';
    $('admin-signin-error').textContent = code === 'wrong_pin' ? t('pin.wrong') : t('error.generic', { message: errorText(r) });
    return;
  }
  state.session = r.data;
  await showAdmin();
}

async function showAdmin() {
  if (state.session.role !== 'manager') {
    await api('POST', '/v1/session/sign-out').catch(() => null);
    state.session = null;
    showSignIn(t('admin.managers_only'));
    return;
  }
  $('admin-signin').hidden = true;
  $('sections').hidden = false;
  $('admin-sign-out').hidden = false;
  $('admin-who').textContent = state.session.name;
  await showSection(state.section);
}

async function showSection(name) {
  state.section = name;
  for (const id of SECTIONS) $(id).hidden = id !== name;
  document.querySelectorAll('[data-section]').forEach((b) => {
    b.setAttribute('aria-selected', String(b.dataset.section === name));
  });
  if (name === 'catalogue') await loadCatalogue();
  else if (name === 'stock') await loadStock();
  else if (name === 'day') await loadDay();
  else if (name === 'shop') await loadShop();
  else if (name === 'journal') await loadJournalFiles();
  else if (name === 'operators') await loadOperators();
}

// The operators (the configuration's, as the back office changed them).
async function loadOperators() {
  const r = await api('GET', '/v1/session/operators').catch(() => null);
  const tbody = $('operator-rows');
  tbody.replaceChildren(...(r && r.status === 200 ? r.data.operators : []).map((o) => {
    const tr = row(cell('td', o.id), cell('td', o.name), cell('td', t(`role.${o.role}`)));
    tr.dataset.operator = o.id;
    tr.tabIndex = 0;
    tr.addEventListener('click', () => editOperator(o));
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') editOperator(o); });
    return tr;
  }));
}

function editOperator(o) {
  state.editingOperator = o;
  const f = $('operator-form');
  $('operator-form-title').textContent = o ? t('operators.edit', { name: o.name }) : t('operators.new');
  f.elements.id.value = o ? o.id : '';
  f.elements.id.readOnly = Boolean(o);
  f.elements.name.value = o ? o.name : '';
  f.elements.role.value = o ? o.role : 'cashier';
  f.elements.new_pin.value = '';
  f.elements.pin.value = '';
  $('operator-remove').hidden = !o;
  $('operator-error').textContent = '';
  $('operators-status').textContent = '';
  f.hidden = false;
  (o ? f.elements.name : f.elements.id).focus();
}

async function saveOperator(e) {
  e.preventDefault();
  const f = $('operator-form');
  const id = f.elements.id.value.trim();
  const body = { operator: state.session.operator, pin: f.elements.pin.value, name: f.elements.name.value.trim(), role: f.elements.role.value };
  if (f.elements.new_pin.value) body.new_pin = f.elements.new_pin.value;
  f.elements.pin.value = '';
  f.elements.new_pin.value = '';
  const r = await api('PUT', `/v1/operators/${encodeURIComponent(id)}`, body).catch(() => null);
  if (!r || r.status !== 200) { $('operator-error').textContent = failure(r); return; }
  f.hidden = true;
  $('operators-status').textContent = t('operators.saved', { name: r.data.name });
  await loadOperators();
}

async function removeOperator() {
  const f = $('operator-form');
  const o = state.editingOperator;
  if (!o) return;
  const r = await api('POST', `/v1/operators/${encodeURIComponent(o.id)}/remove`, { operator: state.session.operator, pin: f.elements.pin.value }).catch(() => null);
  f.elements.pin.value = '';
  if (!r || r.status !== 200) { $('operator-error').textContent = failure(r); return; }
  f.hidden = true;
  $('operators-status').textContent = t('operators.removed', { name: o.name });
  await loadOperators();
}

// The answer's error for a person: a wrong PIN said plainly, anything else as posd says it.
function failure(r) {
  if (!r) return t('status.network.bad');
  const code = r.data && r.data.error ? r.data.error.code : '';
  if (code === 'wrong_pin') return t('pin.wrong');
  // A refusal the catalogues word for people, else as posd says it.
  return state.texts[`error.${code}`] ?? t('error.generic', { message: errorText(r) });
}

// Takes the PIN typed in `id` (and empties the field).
function takePin(id) {
  const pin = $(id).value;
  $(id).value = '';
  return pin;
}

// ---------------------------------------------------------------------------- stock

function quantityText(milli, unit) {
  return unit === 'kg' ? `${(milli / 1000).toFixed(3)} kg` : String(milli / 1000);
}

async function loadStock() {
  const [levels, low, products] = await Promise.all([
    api('GET', '/v1/stock').catch(() => null),
    api('GET', '/v1/stock/low').catch(() => null),
    api('GET', '/v1/products').catch(() => null),
  ]);
  if (products && products.status === 200) state.products = products.data.products;
  const bySku = new Map(state.products.map((p) => [p.sku, p]));
  const lowSkus = new Set(low && low.status === 200 ? low.data.low.map((l) => l.sku) : []);
  const tbody = $('stock-rows');
  tbody.replaceChildren();
  for (const l of levels && levels.status === 200 ? levels.data.levels : []) {
    const p = bySku.get(l.sku);
    const unit = p ? p.unit : 'piece';
    const tr = document.createElement('tr');
    tr.dataset.sku = l.sku;
    if (lowSkus.has(l.sku)) tr.className = 'low';
    const cells = [l.sku, p ? p.label : '', quantityText(l.on_hand_milli, unit), quantityText(l.reserved_milli, unit),
      quantityText(l.available_milli, unit), l.low_milli === null ? '—' : quantityText(l.low_milli, unit)];
    cells.forEach((v, i) => { const td = document.createElement('td'); td.textContent = v; if (i >= 2) td.className = 'num'; tr.append(td); });
    tbody.append(tr);
  }
  const select = $('stock-sku');
  select.replaceChildren(...state.products.filter((p) => p.track_stock).map((p) => {
    const o = document.createElement('option');
    o.value = p.sku;
    o.textContent = `${p.sku} · ${p.label}`;
    return o;
  }));
  renderStockLines();
}

function renderStockLines() {
  $('stock-lines').replaceChildren(...state.stockLines.map((l) => {
    const li = document.createElement('li');
    li.textContent = `${l.sku} : ${l.quantity}`;
    return li;
  }));
  $('stock-save').disabled = state.stockLines.length === 0;
}

function addStockLine() {
  const p = state.products.find((x) => x.sku === $('stock-sku').value);
  const q = Number($('stock-quantity').value.trim());
  if (!p || !Number.isInteger(q) || q < 0 || q > 1000000) { $('stock-error').textContent = t('entry.invalid'); return; }
  $('stock-error').textContent = '';
  state.stockLines.push({ sku: p.sku, quantity: q, milli: p.unit === 'kg' ? q : q * 1000 });
  $('stock-quantity').value = '';
  renderStockLines();
}

async function saveStock() {
  const kind = $('stock-kind').value;
  const body = {
    operator: state.session.operator,
    pin: takePin('stock-pin'),
    id: randomKey(),
    lines: state.stockLines.map((l) => ({ sku: l.sku, quantity_milli: l.milli })),
  };
  const r = await api('POST', `/v1/stock/${kind}`, body).catch(() => null);
  if (!r || r.status !== 200) { $('stock-error').textContent = failure(r); return; }
  $('stock-error').textContent = '';
  $('stock-status').textContent = t('stock.saved', { count: r.data.movements });
  state.stockLines = [];
  await loadStock();
}

// ---------------------------------------------------------------------------- the day's figures

async function loadDay() {
  const r = await api('GET', '/v1/reports/x').catch(() => null);
  if (!r || r.status !== 200) { $('day-error').textContent = failure(r); return; }
  $('day-error').textContent = '';
  $('day-totals').replaceChildren(...xTable(r.data, 'day-total'));
}

// ---------------------------------------------------------------------------- the journal

async function verifyJournal() {
  $('journal-verify-result').textContent = t('journal.verifying');
  const r = await api('POST', '/v1/journal/verify').catch(() => null);
  if (!r || r.status !== 200) { $('journal-verify-result').textContent = failure(r); return; }
  const v = r.data;
  const lines = [v.intact ? t('journal.intact', { records: v.records }) : t('journal.broken', { records: v.records, findings: v.findings.length })];
  for (const f of v.findings.slice(0, 20)) lines.push(`• ${typeof f === 'string' ? f : JSON.stringify(f)}`);
  $('journal-verify-result').textContent = lines.join('\n');
}

// The public key's id and the archives, each to download.
async function loadJournalFiles() {
  const [k, a] = await Promise.all([
    api('GET', '/v1/journal/public-key').catch(() => null),
    api('GET', '/v1/journal/archives').catch(() => null),
  ]);
  $('public-key-id').textContent = k && k.status === 200 ? t('journal.key_id', { algorithm: k.data.algorithm, id: k.data.key_id }) : '';
  $('archive-list').replaceChildren(...(a && a.status === 200 ? a.data.archives : []).map((f) => {
    const li = document.createElement('li');
    const link = document.createElement('a');
    link.className = 'download';
    link.href = `/v1/journal/archives/${encodeURIComponent(f.name)}`;
    link.download = f.name;
    link.textContent = `${f.name} (${Math.ceil(f.bytes / 1024)} KB)`;
    li.append(link);
    return li;
  }));
}

async function archiveMonth() {
  const body = { period: $('archive-month').value.trim(), operator: state.session.operator, pin: takePin('archive-pin') };
  $('archive-error').textContent = '';
  const r = await api('POST', '/v1/journal/archives', body).catch(() => null);
  if (!r || r.status !== 200) { $('archive-error').textContent = failure(r); return; }
  $('archive-result').textContent = t('journal.archived', { label: r.data.label, records: r.data.records, file: r.data.file, sha: r.data.file_sha256 });
  await loadJournalFiles();
}

// ---------------------------------------------------------------------------- the shop

async function loadShop() {
  const [c, y] = await Promise.all([api('GET', '/v1/config').catch(() => null), api('GET', '/v1/sync').catch(() => null)]);
  if (c && c.status === 200) {
    const m = c.data.merchant;
    $('merchant-name').value = m.name;
    $('merchant-address').value = m.address;
    $('merchant-siret').value = m.siret;
    $('merchant-vat').value = m.vat_id;
  }
  const box = $('sync-state');
  box.replaceChildren();
  const configured = y && y.status === 200 && y.data.configured;
  $('sync-reconcile').disabled = !configured;
  if (!configured) { box.textContent = t('sync.none'); return; }
  const table = document.createElement('table');
  table.className = 'grid-table';
  table.append(row(cell('th', t('sync.shop')), cell('th', t('sync.waiting'), 'num'), cell('th', t('sync.problems'), 'num'), cell('th', t('sync.last_ok')), cell('th', t('sync.error'))));
  for (const sh of y.data.shops) {
    const last = sh.last_ok_ms ? new Date(sh.last_ok_ms).toLocaleString(state.lang === 'fr' ? 'fr-FR' : 'en-GB') : '—';
    table.append(row(cell('td', sh.shop), cell('td', String(sh.backlog.pending + sh.backlog.inflight + sh.backlog.uncertain), 'num'),
      cell('td', String(sh.problems.length), 'num'), cell('td', last), cell('td', sh.last_error || '')));
  }
  box.append(table);
}

async function saveMerchant() {
  const body = {
    merchant: { name: $('merchant-name').value.trim(), address: $('merchant-address').value.trim(), siret: $('merchant-siret').value.trim(), vat_id: $('merchant-vat').value.trim() },
    operator: state.session.operator,
    pin: takePin('merchant-pin'),
  };
  const r = await api('PUT', '/v1/config/merchant', body).catch(() => null);
  if (!r || r.status !== 200) { $('merchant-error').textContent = failure(r); return; }
  $('merchant-error').textContent = '';
  $('merchant-status').textContent = t('merchant.saved');
}

async function reconcile() {
  const r = await api('POST', '/v1/sync/reconcile', { operator: state.session.operator, pin: takePin('sync-pin') }).catch(() => null);
  if (!r || r.status !== 200) { $('sync-error').textContent = failure(r); return; }
  $('sync-error').textContent = '';
  const drift = r.data.shops.reduce((n, sh) => n + sh.drift.length, 0);
  $('sync-result').textContent = t('sync.reconciled', { count: drift });
  await loadShop();
}

async function signOut() {
  await api('POST', '/v1/session/sign-out').catch(() => null);
  state.session = null;
  showSignIn();
}

// ---------------------------------------------------------------------------- catalogue

async function loadCatalogue() {
  const [p, c] = await Promise.all([api('GET', '/v1/products'), api('GET', '/v1/config')]);
  if (p.status === 200) state.products = p.data.products;
  if (c.status === 200) state.vatRates = c.data.vat_rates;
  renderCatalogue();
}

function rateText(rate) {
  return `${(rate / 100).toLocaleString(state.lang === 'fr' ? 'fr-FR' : 'en-GB')} %`;
}

function renderCatalogue() {
  const q = state.search.trim().toLowerCase();
  const tbody = $('catalogue-rows');
  tbody.replaceChildren();
  for (const p of state.products) {
    const text = `${p.sku} ${p.label} ${p.category || ''} ${p.barcodes.join(' ')}`.toLowerCase();
    if (q && !text.includes(q)) continue;
    const tr = document.createElement('tr');
    tr.tabIndex = 0;
    tr.dataset.sku = p.sku;
    const price = p.unit === 'kg' ? t('line.per_kg', { price: money(p.price_cents) }) : money(p.price_cents);
    const stock = p.track_stock && p.stock_milli !== null && p.stock_milli !== undefined
      ? (p.unit === 'kg' ? `${(p.stock_milli / 1000).toFixed(3)} kg` : String(p.stock_milli / 1000)) : '—';
    const cells = [p.sku, p.label, p.category || t('category.none'), price, rateText(p.vat_rate), p.barcodes.join(', '), stock];
    cells.forEach((value, i) => {
      const td = document.createElement('td');
      td.textContent = value;
      if (i === 3 || i === 4 || i === 6) td.className = 'num';
      tr.append(td);
    });
    tr.addEventListener('click', () => editProduct(p));
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') editProduct(p); });
    tbody.append(tr);
  }
  const categories = [...new Set(state.products.map((p) => p.category).filter(Boolean))].sort();
  const list = $('category-list');
  list.replaceChildren(...categories.map((c) => { const o = document.createElement('option'); o.value = c; return o; }));
}

function editProduct(p) {
  state.editing = p;
  const f = $('product-form');
  $('product-title').textContent = p ? t('catalogue.edit', { sku: p.sku }) : t('catalogue.new');
  const select = f.elements.vat_rate;
  select.replaceChildren(...state.vatRates.map((r) => {
    const o = document.createElement('option');
    o.value = String(r);
    o.textContent = rateText(r);
    return o;
  }));
  f.elements.sku.value = p ? p.sku : '';
  f.elements.sku.readOnly = Boolean(p);
  f.elements.label.value = p ? p.label : '';
  f.elements.category.value = p && p.category ? p.category : '';
  f.elements.price.value = p ? centsToInput(p.price_cents) : '';
  select.value = String(p ? p.vat_rate : state.vatRates[0]);
  f.elements.unit.value = p ? p.unit : 'piece';
  f.elements.track_stock.checked = p ? p.track_stock : true;
  f.elements.barcodes.value = p ? p.barcodes.join(', ') : '';
  f.elements.pin.value = '';
  $('product-error').textContent = '';
  $('product-modal').hidden = false;
  (p ? f.elements.label : f.elements.sku).focus();
}

async function saveProduct(e) {
  e.preventDefault();
  const f = $('product-form');
  const price = parseEuros(f.elements.price.value);
  if (price === null) { $('product-error').textContent = t('pay.invalid'); return; }
  const product = {
    sku: f.elements.sku.value.trim(),
    label: f.elements.label.value.trim(),
    price_cents: price,
    vat_rate: Number(f.elements.vat_rate.value),
    unit: f.elements.unit.value,
    track_stock: f.elements.track_stock.checked,
    barcodes: f.elements.barcodes.value.split(',').map((c) => c.trim()).filter(Boolean),
    category: f.elements.category.value.trim() || null,
  };
  const body = { operator: state.session.operator, pin: f.elements.pin.value, product };
  f.elements.pin.value = '';
  const editing = state.editing;
  let r;
  try {
    r = editing
      ? await api('PUT', `/v1/products/${encodeURIComponent(product.sku)}`, body)
      : await api('POST', '/v1/products', body);
  } catch (_) {
    $('product-error').textContent = t('status.network.bad');
    return;
  }
  if (r.status !== 200) {
    const code = r.data && r.data.error ? r.data.error.code : '';
    $('product-error').textContent = code === 'wrong_pin' ? t('pin.wrong') : t('error.generic', { message: errorText(r) });
    return;
  }
  $('product-modal').hidden = true;
  $('catalogue-status').textContent = t('catalogue.saved', { sku: product.sku });
  await loadCatalogue();
}

// ---------------------------------------------------------------------------- start

async function start() {
  hooks.sessionEnded = () => showSignIn(t('error.session_expired'));
  $('signin-go').addEventListener('click', () => signIn());
  $('signin-pin').addEventListener('keydown', (e) => { if (e.key === 'Enter') signIn(); });
  $('admin-sign-out').addEventListener('click', () => signOut());
  $('catalogue-search').addEventListener('input', (e) => { state.search = e.target.value; renderCatalogue(); });
  $('product-new').addEventListener('click', () => editProduct(null));
  $('product-form').addEventListener('submit', (e) => saveProduct(e));
  $('product-cancel').addEventListener('click', () => { $('product-modal').hidden = true; });
  document.querySelectorAll('[data-section]').forEach((b) => b.addEventListener('click', () => showSection(b.dataset.section)));
  $('stock-add').addEventListener('click', () => addStockLine());
  $('stock-save').addEventListener('click', () => saveStock());
  $('journal-verify').addEventListener('click', () => verifyJournal());
  $('archive-go').addEventListener('click', () => archiveMonth());
  $('merchant-save').addEventListener('click', () => saveMerchant());
  $('sync-reconcile').addEventListener('click', () => reconcile());
  $('operator-new').addEventListener('click', () => editOperator(null));
  $('operator-form').addEventListener('submit', (e) => saveOperator(e));
  $('operator-remove').addEventListener('click', () => removeOperator());
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('product-modal').hidden) $('product-modal').hidden = true;
  });
  document.querySelectorAll('[data-lang-switch]').forEach((b) => b.addEventListener('click', async () => {
    await switchLanguage();
    if (state.session) await showSection(state.section);
  }));
  await loadTexts(savedLanguage());
  const r = await api('GET', '/v1/session').catch(() => null);
  if (r && r.status === 200) {
    state.session = r.data;
    await showAdmin();
  } else {
    showSignIn();
  }
}

start();
