// The back office: a manager signs in and keeps the catalogue (products, prices, VAT rates,
// barcodes, categories, stock tracking). Every change is a manager action for posd: the
// manager's PIN goes with it, as with any client.
'use strict';

Object.assign(state, {
  products: [],
  vatRates: [],
  editing: null,
  search: '',
});

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
  $('catalogue').hidden = false;
  await loadCatalogue();
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
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('product-modal').hidden) $('product-modal').hidden = true;
  });
  document.querySelectorAll('[data-lang-switch]').forEach((b) => b.addEventListener('click', async () => {
    await switchLanguage();
    if (state.session) renderCatalogue();
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
