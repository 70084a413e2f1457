// REST client for the GroundChat service (/api). Every failure becomes an ApiError whose message
// is a sentence a person can read: the server's `reason` when it sent one, never a raw body or trace.

export class ApiError extends Error {
  constructor(status, code, reason) {
    super(reason);
    this.status = status;
    this.code = code;
  }
}

const MAX_REASON = 300;

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let reason = null;
  try {
    const body = await response.json();
    if (body && typeof body.reason === 'string' && body.reason.trim()) reason = body.reason.trim();
    if (body && typeof body.error === 'string') code = body.error;
  } catch {
    // not JSON (proxy page, HTML error): fall back to a generic sentence below
  }
  if (!reason) reason = genericReason(response.status);
  if (reason.length > MAX_REASON) reason = reason.slice(0, MAX_REASON) + '…';
  return new ApiError(response.status, code, reason);
}

function genericReason(status) {
  if (status === 404) return 'Not found (it may have been deleted).';
  if (status === 413) return 'The file is too large.';
  if (status === 415) return 'This file type is not supported.';
  if (status >= 500) return `The server had a problem (HTTP ${status}). Please try again.`;
  return `The request was refused (HTTP ${status}).`;
}

async function request(method, path, { json, form, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the GroundChat server. Is it running?');
  }
  if (response.status === 401) {
    // the session expired or was never there: the app shows the sign-in form
    window.dispatchEvent(new Event('groundchat:signed-out'));
    throw new ApiError(401, 'unauthenticated', 'Please sign in again.');
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  return type.includes('json') ? response.json() : null;
}

const enc = encodeURIComponent;

export const api = {
  me: () => request('GET', '/api/me'),
  async login(username, password) {
    const body = new URLSearchParams({ j_username: username, j_password: password });
    let response;
    try {
      response = await fetch('/j_security_check', { method: 'POST', body });
    } catch {
      throw new ApiError(0, 'network', 'Cannot reach the GroundChat server. Is it running?');
    }
    if (!response.ok) {
      throw new ApiError(response.status, 'login_failed',
        'Wrong username or password (after several wrong tries, wait a minute).');
    }
  },
  logout: () => request('POST', '/api/me/logout'),
  changePassword: (currentPassword, newPassword) => request('PUT', '/api/me/password', { json: { currentPassword, newPassword } }),
  listTokens: () => request('GET', '/api/me/tokens'),
  createToken: (name) => request('POST', '/api/me/tokens', { json: { name } }),
  revokeToken: (id) => request('DELETE', `/api/me/tokens/${enc(id)}`),
  listUsers: () => request('GET', '/api/admin/users'),
  createUser: (username, password, role) => request('POST', '/api/admin/users', { json: { username, password, role } }),
  updateUser: (id, change) => request('PATCH', `/api/admin/users/${enc(id)}`, { json: change }),
  deleteUser: (id) => request('DELETE', `/api/admin/users/${enc(id)}`),
  listConversations: (page = 0, size = 50) => request('GET', `/api/conversations?page=${page}&size=${size}`),
  /** imageId: the image the conversation starts with, so a reload shows it before the first message. */
  createConversation: (imageId) => request('POST', '/api/conversations', { json: imageId ? { imageId } : {} }),
  getConversation: (id) => request('GET', `/api/conversations/${enc(id)}`),
  renameConversation: (id, title) => request('PATCH', `/api/conversations/${enc(id)}`, { json: { title } }),
  /** Resolves to {deleted, unusedImages}: the images no other conversation of the account shows any more. */
  deleteConversation: (id) => request('DELETE', `/api/conversations/${enc(id)}`,
    { headers: { Prefer: 'return=representation' } }),
  deleteImage: (id) => request('DELETE', `/api/images/${enc(id)}`),
  uploadImage(file) {
    const form = new FormData();
    form.append('file', file, file.name || 'pasted-image.png');
    return request('POST', '/api/images', { form });
  },
  imageUrl: (id) => `/api/images/${enc(id)}`,
  exportUrl: (id) => `/api/conversations/${enc(id)}/export`,
  cocoUrl: (id) => `/api/conversations/${enc(id)}/export/coco`,
};
