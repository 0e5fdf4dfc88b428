// The till's sign-in: the operators listed, a PIN pad (touch or keys), the lock-out shown.
'use strict';

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
