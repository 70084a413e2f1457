// The account dialog: change password, API tokens, and (for admins) users. Opened from the username in the top bar.

import { api } from './api.js';

const $ = (id) => document.getElementById(id);

function row(text, actions) {
  const li = document.createElement('li');
  const span = document.createElement('span');
  span.textContent = text;
  li.appendChild(span);
  for (const [label, onClick] of actions) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-ghost';
    b.textContent = label;
    b.addEventListener('click', onClick);
    li.appendChild(b);
  }
  return li;
}

export class AccountDialog {
  /** notify(message): shows a short message to the person (the app's toast). */
  constructor(notify) {
    this.notify = notify;
    this.me = null;
    $('account-close').addEventListener('click', () => $('account').close());
    $('pw-form').addEventListener('submit', (e) => { e.preventDefault(); this.changePassword(); });
    $('token-form').addEventListener('submit', (e) => { e.preventDefault(); this.createToken(); });
    $('user-form').addEventListener('submit', (e) => { e.preventDefault(); this.createUser(); });
  }

  async open(me) {
    this.me = me;
    $('new-token').hidden = true;
    $('users-section').hidden = me.role !== 'admin';
    $('account').showModal();
    await this.guard(() => this.refresh());
  }

  async refresh() {
    const tokens = await api.listTokens();
    $('token-list').replaceChildren(...tokens.map((t) => row(`${t.name} (${t.prefix}…)`,
      [['Revoke', () => this.guard(async () => { await api.revokeToken(t.id); await this.refresh(); })]])));
    if (this.me.role !== 'admin') return;
    const users = await api.listUsers();
    $('user-list').replaceChildren(...users.map((u) => row(`${u.username} · ${u.role}${u.disabled ? ' · disabled' : ''}`,
      u.id === this.me.id ? [] : [
        [u.disabled ? 'Enable' : 'Disable', () => this.guard(async () => {
          await api.updateUser(u.id, { disabled: !u.disabled });
          await this.refresh();
        })],
        ['Delete', () => this.guard(async () => {
          if (!window.confirm(`Delete ${u.username} and all their conversations?`)) return;
          await api.deleteUser(u.id);
          await this.refresh();
        })],
      ])));
  }

  async changePassword() {
    await this.guard(async () => {
      await api.changePassword($('pw-current').value, $('pw-new').value);
      $('pw-form').reset();
      this.notify('Password changed.');
    });
  }

  async createToken() {
    await this.guard(async () => {
      const t = await api.createToken($('token-name').value.trim() || 'token');
      $('token-form').reset();
      $('new-token').hidden = false;
      $('new-token').textContent = `New token (copy it now, it is not shown again): ${t.token}`;
      await this.refresh();
    });
  }

  async createUser() {
    await this.guard(async () => {
      await api.createUser($('user-name').value.trim(), $('user-password').value, $('user-role').value);
      $('user-form').reset();
      await this.refresh();
    });
  }

  async guard(action) {
    try {
      await action();
    } catch (e) {
      this.notify(e.message);
    }
  }
}
