// GroundChat browser UI: conversations, image, streaming grounded chat. Talks to the REST API and the
// conversation WebSocket (see ARCHITECTURE.md). The open conversation is kept in the URL hash, so a reload or an
// app restart reopens it.

import { api } from './api.js';
import { ConversationSocket } from './socket.js';
import { ImageStage } from './canvas-overlay.js';
import { regionColor } from './colors.js';
import { AccountDialog } from './account.js';
import { ModelInfo } from './model-info.js';

const $ = (id) => document.getElementById(id);
const SUGGESTIONS = ['describe the image .', 'find all circles .', 'how many red objects are there ?', 'is there a blue star ?'];

const state = {
  conversation: null, // {id, title, imageId}
  imageId: null,
  socket: null,
  pending: [], // boxes drawn for the next message: {box}
  running: null, // {turnId, messageEl, textEl, status}
  // messages written while the connection was down: {frame, text, li, sending}; shown as pending bubbles, sent in
  // order once the socket is open (sending: out, waiting for its `accepted`)
  outbox: [],
  messages: new Map(), // message id -> li
  // turn i: a question and its answer; turns[i] holds the region numbers the image shows for it (its own regions and
  // those its texts mention as [n]). The image shows one turn's boxes, the latest unless shownTurn picks another.
  turns: [],
  shownTurn: null,
  points: [],
  editing: null, // the li of the last question while its text is being edited in the composer
};

const stage = new ImageStage(
  { area: $('stage-area'), frame: $('frame'), img: $('stage-img'), canvas: $('mask-canvas'), overlay: $('overlay'), dropzone: $('dropzone') },
  {
    onDraw: (box) => { state.pending.push({ box }); renderPending(); },
    onRegionClick: (n) => insertReference(`[${n}]`),
    onHover: (n) => highlight(n),
  },
);

// ---- feedback ---------------------------------------------------------------------------------

const MAX_TOASTS = 3;

/**
 * A short message at the top of the page (never over the composer). The same message is not stacked twice; at most
 * MAX_TOASTS show; each can be closed. `cause` names what it is about ('image', 'connection'): dismissToasts(cause)
 * removes it as soon as that is resolved, instead of leaving a stale complaint on screen. `action` ({label, run}) adds
 * a button (Undo, ...) that runs once and closes the message.
 */
function toast(message, cause = '', action = null, ms = 6000) {
  const box = $('toasts');
  for (const old of box.querySelectorAll('.toast')) if (old.dataset.message === message) old.remove();
  const el = document.createElement('div');
  el.className = 'toast';
  el.dataset.message = message;
  el.dataset.cause = cause;
  const text = document.createElement('span');
  text.textContent = message;
  const close = iconButton('×', 'Dismiss');
  close.addEventListener('click', () => el.remove());
  el.append(text);
  if (action) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn toast-action';
    b.textContent = action.label;
    b.addEventListener('click', () => { el.remove(); action.run(); });
    el.append(b);
  }
  el.append(close);
  box.appendChild(el);
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();
  setTimeout(() => el.remove(), ms);
}

function dismissToasts(cause) {
  for (const el of $('toasts').querySelectorAll(`.toast[data-cause="${cause}"]`)) el.remove();
}

function setBusy(running, label) {
  $('send-btn').hidden = running;
  $('stop-btn').hidden = !running;
  if (!running) resetStop();
  // regenerate needs a question to answer again
  $('regen-btn').disabled = running || !state.conversation || !$('messages').querySelector('.message.user');
  document.body.dataset.busy = running ? label || 'thinking' : '';
}

// ---- conversations ----------------------------------------------------------------------------

// The list as last read from the server; the search box filters it without asking again.
let listItems = [];
// conversations deleted in the UI whose DELETE waits for the undo time to pass: id -> {timer, conversation}
const pendingDeletes = new Map();
const UNDO_MS = 6000;

async function refreshList() {
  let page;
  try {
    page = await api.listConversations();
  } catch (e) {
    toast(e.message);
    return;
  }
  listItems = page.items;
  renderList();
}

function renderList() {
  const list = $('conv-list');
  list.replaceChildren();
  const shown = listItems.filter((c) => !pendingDeletes.has(c.id));
  const query = $('conv-search').value.trim().toLowerCase();
  const matches = shown.filter((c) => !query || c.title.toLowerCase().includes(query));
  $('conv-empty').hidden = shown.length > 0;
  $('conv-nomatch').hidden = !shown.length || matches.length > 0;
  for (const c of matches) {
    const li = document.createElement('li');
    li.className = 'conv-item';
    li.dataset.id = c.id;
    if (state.conversation && c.id === state.conversation.id) {
      li.setAttribute('aria-current', 'true');
      $('conv-title').textContent = c.title; // the server titles a new conversation after its first message
    }
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'conv-open';
    const thumb = document.createElement(c.imageId ? 'img' : 'span');
    thumb.className = 'conv-thumb';
    if (c.imageId) {
      thumb.src = api.imageUrl(c.imageId);
      thumb.alt = '';
      thumb.loading = 'lazy';
    }
    const name = document.createElement('span');
    name.className = 'conv-name';
    name.textContent = c.title;
    const date = document.createElement('time');
    date.className = 'conv-date';
    date.dateTime = c.updatedAt;
    date.textContent = shortDate(c.updatedAt);
    date.title = new Date(c.updatedAt).toLocaleString();
    const text = document.createElement('span');
    text.className = 'conv-text';
    text.append(name, date);
    open.append(thumb, text);
    open.addEventListener('click', () => openConversation(c.id));
    const rename = iconButton('Rename', `Rename ${c.title}`);
    rename.addEventListener('click', () => startRename(li, c));
    const del = iconButton('Delete', `Delete ${c.title}`);
    del.addEventListener('click', () => deleteWithUndo(c));
    li.append(open, rename, del);
    list.appendChild(li);
  }
}

/** Today: the time; this year: day and month; earlier: with the year. */
function shortDate(iso) {
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const year = d.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' };
  return d.toLocaleDateString([], { month: 'short', day: 'numeric', ...year });
}

/** Rename in place: the title becomes a text field; Enter or leaving it saves, Escape keeps the old title. */
function startRename(li, c) {
  const field = document.createElement('input');
  field.className = 'conv-rename';
  field.value = c.title;
  field.maxLength = 200;
  field.setAttribute('aria-label', `New title for ${c.title}`);
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = field.value.trim();
    if (!save || !title || title === c.title) { renderList(); return; }
    try {
      await api.renameConversation(c.id, title);
      c.title = title;
      if (state.conversation && state.conversation.id === c.id) $('conv-title').textContent = title;
    } catch (e) {
      toast(e.message);
    }
    renderList();
  };
  field.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); finish(true); }
    if (e.key === 'Escape') { e.preventDefault(); finish(false); }
  });
  field.addEventListener('blur', () => finish(true));
  li.replaceChildren(field);
  field.focus();
  field.select();
}

/**
 * Delete without a confirm(): the conversation leaves the list at once and a notice offers Undo; it is deleted on the
 * server once the undo time has passed (or when the page is left).
 */
function deleteWithUndo(c) {
  const wasOpen = state.conversation && state.conversation.id === c.id;
  if (wasOpen) closeConversation();
  const timer = setTimeout(() => reallyDelete(c.id), UNDO_MS);
  pendingDeletes.set(c.id, { timer, conversation: c });
  renderList();
  toast(`Deleted "${c.title}".`, '', {
    label: 'Undo',
    run: () => {
      const pending = pendingDeletes.get(c.id);
      if (!pending) return;
      clearTimeout(pending.timer);
      pendingDeletes.delete(c.id);
      renderList();
      if (wasOpen) openConversation(c.id);
    },
  });
}

async function reallyDelete(id) {
  if (!pendingDeletes.delete(id)) return;
  let unused = [];
  try {
    const result = await api.deleteConversation(id);
    unused = (result && result.unusedImages) || [];
  } catch (e) {
    if (e.status !== 404) toast(e.message);
  }
  refreshList();
  if (unused.length) offerToDeleteImages(unused);
}

// leaving the page during the undo time: the deletes still happen
window.addEventListener('pagehide', () => {
  for (const id of pendingDeletes.keys()) fetch(`/api/conversations/${encodeURIComponent(id)}`, { method: 'DELETE', keepalive: true });
});

/**
 * After a conversation is deleted: its images that no other conversation shows stay stored (and count against the
 * account's storage) unless the person deletes them too.
 */
function offerToDeleteImages(ids) {
  const what = ids.length === 1 ? 'Its image is' : `Its ${ids.length} images are`;
  const them = ids.length === 1 ? 'it' : 'them';
  toast(`${what} not used by any other conversation.`, '', {
    label: `Delete ${them} too`,
    run: async () => {
      let failed = 0;
      for (const id of ids) {
        try {
          await api.deleteImage(id);
        } catch (e) {
          if (e.status !== 404) failed++; // 404: already gone
        }
      }
      if (failed) toast(`${failed} of ${ids.length} images could not be deleted (another conversation may show them now).`);
    },
  }, 12000);
}

function iconButton(text, label) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'btn-icon';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  return b;
}

function closeConversation() {
  stopEdit(true);
  if (state.socket) state.socket.close();
  state.socket = null;
  dropOutbox();
  state.conversation = null;
  state.imageId = null;
  state.messages.clear();
  state.turns = [];
  state.shownTurn = null;
  $('messages').replaceChildren();
  $('conv-title').textContent = 'No conversation open';
  // no conversation, no connection to speak of: the pill comes back with the next conversation's socket
  $('conn-status').hidden = true;
  $('conn-status').dataset.state = 'idle';
  stage.clearImage();
  $('download-png').disabled = true;
  for (const el of [$('export-json'), $('export-coco')]) {
    el.removeAttribute('href'); // no href: not focusable, Enter cannot follow it
    el.setAttribute('aria-disabled', 'true');
  }
  history.replaceState(null, '', location.pathname);
  setBusy(false);
}

async function openConversation(id) {
  let c;
  try {
    c = await api.getConversation(id);
  } catch (e) {
    toast(e.message);
    if (e.status === 404) closeConversation();
    return;
  }
  if (state.socket) state.socket.close();
  if (!state.conversation || state.conversation.id !== c.id) dropOutbox();
  await showConversation(c);
  state.socket = new ConversationSocket(c.id, {
    onEvent: onEvent,
    onState: (s) => {
      $('conn-status').hidden = false;
      $('conn-status').dataset.state = s;
      $('conn-status').textContent = s;
      if (s === 'online') dismissToasts('connection');
    },
    onOpen: (reconnected) => (reconnected ? refreshAfterReconnect(c.id) : flushOutbox()),
  });
  refreshList();
}

/**
 * The connection is back: the socket stays (replacing it would drop what is about to be sent), the messages are
 * read again over REST (answers may have ended while it was down), then the outbox goes out.
 */
async function refreshAfterReconnect(id) {
  // a message that went out but was never accepted: the REST view shows it if the server stored it; if not, its
  // text goes back to the composer rather than being sent twice or lost
  const unconfirmed = state.outbox.filter((o) => o.sending);
  for (const item of unconfirmed) removeFromOutbox(item);
  try {
    const c = await api.getConversation(id);
    if (!state.conversation || state.conversation.id !== id) return;
    await showConversation(c);
    const stored = new Set(c.messages.filter((m) => m.role === 'user').map((m) => (m.text || '').trim()));
    const lost = unconfirmed.filter((o) => !stored.has(o.text));
    if (lost.length) {
      restoreText(lost[lost.length - 1].text);
      toast('The connection dropped before your message was received: it is back in the message box.');
    }
  } catch (e) {
    toast(e.message, e.status ? '' : 'connection');
  }
  flushOutbox();
}

/** Shows a conversation read over REST: title, image, stored messages, then the outbox's pending bubbles. */
async function showConversation(c) {
  if (state.editing && !state.editing.isConnected) stopEdit(); // its message was drawn again: the text stays in the composer
  state.conversation = c;
  state.imageId = c.imageId;
  state.running = null;
  state.messages.clear();
  history.replaceState(null, '', `#${c.id}`);
  $('conv-title').textContent = c.title;
  for (const [el, url] of [[$('export-json'), api.exportUrl(c.id)], [$('export-coco'), api.cocoUrl(c.id)]]) {
    el.href = url;
    el.removeAttribute('aria-disabled');
  }
  $('messages').replaceChildren();
  stage.clearRegions();
  state.turns = [];
  state.shownTurn = null;
  if (c.imageId) await showImage(c.imageId);
  for (const m of c.messages) renderStoredMessage(m);
  applyTurnFilter();
  for (const item of state.outbox) $('messages').appendChild(item.li);
  const last = c.messages[c.messages.length - 1];
  setBusy(!!last && last.status === 'streaming', 'thinking');
}

async function newConversation(imageId) {
  try {
    const c = await api.createConversation(imageId);
    await openConversation(c.id);
    return c;
  } catch (e) {
    toast(e.message);
    return null;
  }
}

// ---- image ------------------------------------------------------------------------------------

async function showImage(imageId) {
  state.imageId = imageId;
  await stage.setImage(api.imageUrl(imageId));
  $('download-png').disabled = false;
  dismissToasts('image');
}

async function addImage(file) {
  if (!file) return;
  try {
    const img = await api.uploadImage(file);
    if (!state.conversation) await newConversation(img.id);
    state.pending = [];
    renderPending();
    stage.clearRegions();
    await showImage(img.id);
    $('composer-text').focus();
  } catch (e) {
    toast(e.message);
  }
}

// ---- messages ---------------------------------------------------------------------------------

function messageEl(role, status) {
  const li = document.createElement('li');
  li.className = `message ${role}`;
  li.dataset.role = role;
  li.dataset.status = status || 'complete';
  const body = document.createElement('div');
  body.className = 'message-text';
  li.appendChild(body);
  const meta = document.createElement('div');
  meta.className = 'message-meta';
  li.appendChild(meta);
  $('messages').appendChild(li);
  li.scrollIntoView({ block: 'end' });
  return li;
}

/** Renders text with region phrases coloured and [n] labels as buttons. */
function renderText(container, text, regions) {
  container.replaceChildren();
  const spans = regions.filter((r) => r.phraseStart != null && r.phraseEnd != null && r.phraseEnd > r.phraseStart)
    .sort((a, b) => a.phraseStart - b.phraseStart);
  const marks = [];
  for (const r of spans) marks.push({ at: r.phraseStart, end: r.phraseEnd, region: r });
  let pos = 0;
  const pushPlain = (s) => { if (s) appendWithRefs(container, s); };
  for (const m of marks) {
    if (m.at < pos) continue;
    pushPlain(text.slice(pos, m.at));
    const span = document.createElement('span');
    span.className = 'phrase';
    span.dataset.number = String(m.region.number);
    span.style.setProperty('--c', regionColor(m.region.number));
    span.textContent = text.slice(m.at, m.end);
    span.addEventListener('pointerenter', () => highlight(m.region.number));
    span.addEventListener('pointerleave', () => highlight(null));
    container.appendChild(span);
    pos = m.end;
  }
  pushPlain(text.slice(pos));
}

function appendWithRefs(container, s) {
  const re = /\[(\d+)]/g;
  let last = 0;
  let m;
  while ((m = re.exec(s))) {
    if (m.index > last) container.appendChild(words(s.slice(last, m.index)));
    const n = Number(m[1]);
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'ref';
    b.dataset.number = String(n);
    b.style.setProperty('--c', regionColor(n));
    b.textContent = m[0];
    b.setAttribute('aria-label', `Region ${n}: insert into message`);
    const ref = `[${n}]`; // not m[0]: the loop variable is null by the time anyone clicks
    b.addEventListener('click', () => insertReference(ref));
    b.addEventListener('pointerenter', () => highlight(n));
    b.addEventListener('pointerleave', () => highlight(null));
    container.appendChild(b);
    last = m.index + m[0].length;
  }
  if (last < s.length) container.appendChild(words(s.slice(last)));
}

function words(s) {
  return document.createTextNode(s);
}

function renderStoredMessage(m) {
  const li = messageEl(m.role, m.status);
  li.dataset.id = m.id;
  state.messages.set(m.id, li);
  if (m.role === 'user' || !state.turns.length) startTurn();
  addToTurn(li, m.text, m.regions);
  renderText(li.querySelector('.message-text'), m.text || '', m.regions || []);
  if (m.role === 'assistant') renderLegend(li, m.regions || []);
  renderFoot(li, m);
  const meta = li.querySelector('.message-meta');
  if (m.status === 'failed') meta.textContent = `Failed: ${m.errorReason || 'unknown reason'}`;
  else if (m.status === 'cancelled') meta.textContent = 'Stopped';
  else if (m.status === 'streaming') meta.textContent = 'Interrupted';
  for (const r of m.regions || []) stage.upsertRegion(r);
  const pts = [];
  for (const r of m.regions || []) for (const p of r.points || []) pts.push({ ...p, number: r.number });
  if (m.role === 'assistant' && pts.length) { state.points = pts; stage.setPoints(pts); }
  attachPointHover(li, pts);
  if (m.role === 'user') showEditOnLastQuestion();
  return li;
}

/** When the message was written, and for an answer a Copy button (its text, [n] references included). */
function renderFoot(li, m) {
  const foot = document.createElement('div');
  foot.className = 'message-foot';
  if (m.createdAt) {
    const time = document.createElement('time');
    time.dateTime = m.createdAt;
    time.textContent = new Date(m.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    time.title = new Date(m.createdAt).toLocaleString();
    foot.appendChild(time);
  }
  if (m.role === 'assistant' && m.text) {
    const copy = linkButton('message-copy', 'Copy', 'Copy this answer');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(m.text);
        copy.textContent = 'Copied';
        setTimeout(() => { copy.textContent = 'Copy'; }, 1500);
      } catch {
        // the clipboard needs a secure page (HTTPS or localhost) and the person's permission
        toast('The text could not be copied: this page may not reach the clipboard.');
      }
    });
    foot.appendChild(copy);
  }
  if (m.role === 'user' && m.text) {
    const edit = linkButton('message-edit', 'Edit', 'Edit this question and send it again');
    edit.addEventListener('click', () => startEdit(li, m.text));
    foot.appendChild(edit);
  }
  if (foot.childElementCount) li.appendChild(foot);
}

function linkButton(className, text, label) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `btn-link ${className}`;
  b.textContent = text;
  b.setAttribute('aria-label', label);
  return b;
}

/** Only the last question can be edited (hidden while an answer runs, styles.css). */
function showEditOnLastQuestion() {
  const edits = [...$('messages').querySelectorAll('.message.user:not(.outbox) .message-edit')];
  edits.forEach((b, i) => { b.hidden = i !== edits.length - 1; });
}

/**
 * Edit and resend: the last question's text goes back into the composer; sending asks it as a new question (the
 * service keeps every stored turn, so the earlier question and its answer stay above, and [n] in it still resolve).
 */
function startEdit(li, text) {
  stopEdit();
  state.editing = li;
  li.classList.add('editing');
  const t = $('composer-text');
  t.value = text;
  t.focus();
  t.setSelectionRange(text.length, text.length);
  $('edit-note').hidden = false;
  modelInfo.markUnknown();
}

/** Leaves editing; `clear`: the edited text leaves the composer too (Cancel). */
function stopEdit(clear = false) {
  if (!state.editing) return;
  state.editing.classList.remove('editing');
  state.editing = null;
  $('edit-note').hidden = true;
  if (clear) {
    $('composer-text').value = '';
    modelInfo.markUnknown();
  }
}

// ---- turns and region lists --------------------------------------------------------------------

function startTurn() {
  state.turns.push(new Set());
  state.shownTurn = null; // a new question: the image follows it
}

/** The message belongs to the latest turn; its regions and the [n] its text mentions are shown with that turn. */
function addToTurn(li, text, regions) {
  const i = state.turns.length - 1;
  li.dataset.turn = String(i);
  for (const r of regions || []) state.turns[i].add(r.number);
  for (const m of (text || '').matchAll(/\[(\d+)]/g)) state.turns[i].add(Number(m[1]));
}

/** Shows on the image the boxes of one turn (the latest, or the one picked from a region list), or of all turns. */
function applyTurnFilter() {
  const all = $('toggle-all-turns').checked;
  const i = state.shownTurn ?? state.turns.length - 1;
  stage.setShown(all || i < 0 ? null : state.turns[i]);
  // an earlier turn picked: its messages are marked, so it is clear what the image shows
  for (const li of $('messages').children) li.classList.toggle('shown-turn', !all && state.shownTurn != null && li.dataset.turn === String(i));
}

/** The answer's regions listed under it: hovering or focusing one highlights its box, a click puts [n] into the message. */
function renderLegend(li, regions) {
  li.querySelector('.legend')?.remove();
  if (!regions.length) return;
  const list = document.createElement('ul');
  list.className = 'legend';
  list.setAttribute('aria-label', 'Regions in this answer');
  for (const r of [...regions].sort((a, b) => a.number - b.number)) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'legend-item';
    b.dataset.number = String(r.number);
    b.style.setProperty('--c', regionColor(r.number));
    const number = document.createElement('b');
    number.textContent = `[${r.number}]`;
    b.append(number, ` ${r.phrase || 'region'}`);
    b.setAttribute('aria-label', `Region ${r.number}${r.phrase ? `: ${r.phrase}` : ''}. Show it and insert into message`);
    b.addEventListener('pointerenter', () => highlight(r.number));
    b.addEventListener('pointerleave', () => highlight(null));
    b.addEventListener('focus', () => highlight(r.number));
    b.addEventListener('blur', () => highlight(null));
    b.addEventListener('click', () => {
      // an earlier answer's list brings its turn's boxes back onto the image
      const turn = Number(li.dataset.turn);
      state.shownTurn = turn === state.turns.length - 1 ? null : turn;
      applyTurnFilter();
      insertReference(`[${r.number}]`);
    });
    const item = document.createElement('li');
    item.appendChild(b);
    list.appendChild(item);
  }
  li.insertBefore(list, li.querySelector('.message-meta'));
}

function attachPointHover(li, points) {
  li.querySelector('.message-text').onpointermove = (e) => {
    if (!stage.visible.points) return;
    const range = document.caretRangeFromPoint ? document.caretRangeFromPoint(e.clientX, e.clientY) : null;
    if (!range) return;
    const offset = textOffset(li.querySelector('.message-text'), range.startContainer, range.startOffset);
    const p = points.find((q) => offset >= q.start && offset <= q.end);
    stage.showPoint(p || null);
  };
}

function textOffset(root, node, offset) {
  let total = 0;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    if (walker.currentNode === node) return total + offset;
    total += walker.currentNode.textContent.length;
  }
  return total;
}

// ---- streaming events --------------------------------------------------------------------------

/** The running answer's text so far, with a caret at its end while it is being written. */
function renderRunning() {
  const text = state.running.li.querySelector('.message-text');
  renderText(text, state.running.text, state.running.regions);
  renderLegend(state.running.li, state.running.regions);
  const caret = document.createElement('span');
  caret.className = 'caret';
  caret.setAttribute('aria-hidden', 'true');
  text.appendChild(caret);
}

function onEvent(e) {
  switch (e.type) {
    case 'accepted': {
      if (e.regenerate) {
        const lis = [...$('messages').children];
        const last = lis[lis.length - 1];
        if (last && last.dataset.role === 'assistant') {
          // the replaced answer's boxes go with it
          for (const b of last.querySelectorAll('.legend-item')) {
            stage.removeRegion(Number(b.dataset.number));
            state.turns[state.turns.length - 1]?.delete(Number(b.dataset.number));
          }
          last.remove();
        }
      } else {
        const sent = state.outbox.find((o) => o.sending);
        if (sent) removeFromOutbox(sent);
        renderStoredMessage(e.userMessage);
      }
      const li = messageEl('assistant', 'queued');
      if (!state.turns.length) startTurn();
      li.dataset.turn = String(state.turns.length - 1);
      applyTurnFilter();
      li.querySelector('.message-meta').textContent = 'Waiting to start…';
      state.running = { turnId: e.turnId, li, text: '', regions: [], points: [] };
      setBusy(true, 'queued');
      resetStop();
      flushOutbox(); // the next waiting message, if any
      break;
    }
    case 'queued':
      // position 1 is the first waiting answer: at least one running answer is ahead of it
      if (state.running) {
        const n = e.position;
        state.running.li.querySelector('.message-meta').textContent = `Waiting: ${n} ${n === 1 ? 'answer' : 'answers'} ahead`;
      }
      break;
    case 'started':
      if (state.running) {
        state.running.li.dataset.status = 'streaming';
        state.running.li.querySelector('.message-meta').textContent = 'Thinking…';
        document.body.dataset.busy = 'thinking';
        renderRunning();
      }
      break;
    case 'text':
      if (state.running) {
        state.running.text += e.delta;
        state.running.li.querySelector('.message-meta').textContent = ''; // the caret says it is still writing
        renderRunning();
      }
      break;
    case 'region':
      if (state.running) {
        state.running.regions.push(e.region);
        state.turns[state.turns.length - 1]?.add(e.region.number);
        applyTurnFilter();
        stage.upsertRegion(e.region);
        renderRunning();
      }
      break;
    case 'mask':
      stage.setMask(e.number, e.mask);
      break;
    case 'point':
      if (state.running) state.running.points.push(e);
      break;
    case 'done':
    case 'cancelled': {
      const li = state.running ? state.running.li : messageEl('assistant');
      li.remove();
      state.running = null;
      renderStoredMessage(e.message);
      applyTurnFilter();
      setBusy(false);
      refreshList();
      break;
    }
    case 'error': {
      toast(e.reason || 'Something went wrong.');
      // a message from the outbox refused before it was stored: its text goes back to the composer
      const sent = !e.turnId || !state.running || e.turnId !== state.running.turnId ? state.outbox.find((o) => o.sending) : null;
      if (sent) {
        removeFromOutbox(sent);
        restoreText(sent.text);
        flushOutbox();
      }
      if (state.running && e.turnId === state.running.turnId) {
        const li = state.running.li;
        li.dataset.status = 'failed';
        li.querySelector('.caret')?.remove();
        li.querySelector('.message-meta').textContent = `Failed: ${e.reason}`;
        state.running = null;
        setBusy(false);
      }
      break;
    }
    default:
      break;
  }
}

// ---- outbox: messages written while the connection is down ------------------------------------

function queueMessage(frame, text) {
  const li = messageEl('user', 'pending');
  li.classList.add('outbox');
  renderText(li.querySelector('.message-text'), text, []);
  const meta = li.querySelector('.message-meta');
  const note = document.createElement('span');
  note.className = 'outbox-note';
  note.textContent = 'Waiting for connection…';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'btn-link outbox-cancel';
  cancel.textContent = 'Cancel';
  cancel.setAttribute('aria-label', 'Cancel this message (its text goes back to the message box)');
  meta.append(note, ' ', cancel);
  const item = { frame, text, li, sending: false };
  cancel.addEventListener('click', () => {
    if (item.sending) return;
    removeFromOutbox(item);
    restoreText(text);
  });
  state.outbox.push(item);
}

function removeFromOutbox(item) {
  const i = state.outbox.indexOf(item);
  if (i >= 0) state.outbox.splice(i, 1);
  item.li.remove();
}

/** Puts a message's text back into the composer, unless something else is being written there. */
function restoreText(text) {
  const t = $('composer-text');
  if (!t.value.trim()) t.value = text;
  t.focus();
}

/** Sends the waiting messages in order while the socket takes them; each leaves the outbox on its `accepted`. */
function flushOutbox() {
  for (const item of state.outbox) {
    if (item.sending) continue;
    if (!state.socket || !state.socket.send(item.frame)) return;
    item.sending = true;
    item.li.dataset.status = 'sending';
    item.li.querySelector('.message-meta').textContent = 'Sending…';
  }
}

/** Another conversation opens: its pending messages are not sent there; the last one's text goes back to the composer. */
function dropOutbox() {
  const last = state.outbox[state.outbox.length - 1];
  for (const item of [...state.outbox]) removeFromOutbox(item);
  if (last && !last.sending) restoreText(last.text);
}

function resetStop() {
  $('stop-btn').disabled = false;
  $('stop-btn').textContent = 'Stop';
}

// ---- composing ---------------------------------------------------------------------------------

function renderPending() {
  stage.setPending(state.pending);
  const chips = $('pending-chips');
  chips.replaceChildren();
  state.pending.forEach((p, i) => {
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'chip';
    chip.textContent = `#${i + 1} ×`;
    chip.setAttribute('aria-label', `Remove drawn box #${i + 1}`);
    chip.addEventListener('click', () => { state.pending.splice(i, 1); renderPending(); });
    chips.appendChild(chip);
  });
}

function insertReference(ref) {
  const t = $('composer-text');
  const at = t.selectionStart ?? t.value.length;
  t.value = `${t.value.slice(0, at)}${ref} ${t.value.slice(at)}`;
  t.focus();
}

function highlight(n) {
  stage.setHighlight(n);
  document.querySelectorAll('.phrase, .ref, .legend-item').forEach((el) => el.classList.toggle('hl', n != null && el.dataset.number === String(n)));
}

async function send(text) {
  text = text.trim();
  if (!text) return;
  if (!state.imageId) { toast('Add an image first.', 'image'); return; }
  if (!state.conversation && !(await newConversation())) return;
  let body = text;
  // drawn boxes the text does not mention are still sent; the server appends them
  const frame = { type: 'user_turn', text: body, imageId: state.imageId, regions: state.pending.map((p) => ({ box: p.box })) };
  // earlier messages still waiting go first; a message is never sent into a closed socket and lost
  if (state.outbox.length || !state.socket || !state.socket.send(frame)) queueMessage(frame, text);
  state.pending = [];
  renderPending();
  $('composer-text').value = '';
  stopEdit();
  modelInfo.markUnknown();
}

// ---- wiring ------------------------------------------------------------------------------------

$('composer').addEventListener('submit', (e) => { e.preventDefault(); send($('composer-text').value); });
$('composer-text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send($('composer-text').value); }
});
// Skip links move the focus themselves: following their href would replace the #conversation-id in the address.
document.querySelectorAll('.skip-link').forEach((a) => a.addEventListener('click', (e) => {
  e.preventDefault();
  const target = $(a.dataset.skip);
  (target.hidden ? $('add-image') : target).focus(); // no image yet: Add image is the way to add one
}));
$('stop-btn').addEventListener('click', () => {
  if (!state.socket || !state.socket.send({ type: 'cancel' })) {
    toast('Not connected: the answer cannot be stopped until the connection is back.', 'connection');
    return;
  }
  // at once, not when the server's `cancelled` comes: setBusy(false) gives the button back
  $('stop-btn').disabled = true;
  $('stop-btn').textContent = 'Stopping…';
});
$('regen-btn').addEventListener('click', () => {
  if (state.socket && !state.socket.send({ type: 'regenerate' })) toast('Not connected: try again once the connection is back.', 'connection');
});
// Nothing is stored until the first image or message: a New that is never used leaves no empty conversation behind
// (and works offline, closing nothing that is not kept on the server).
$('new-conversation').addEventListener('click', () => {
  closeConversation();
  $('conv-title').textContent = 'New conversation';
  renderList();
  $('add-image').focus();
});
$('conv-search').addEventListener('input', renderList);
$('edit-cancel').addEventListener('click', () => { stopEdit(true); $('composer-text').focus(); });
$('add-image').addEventListener('click', () => $('file-input').click());
$('file-input').addEventListener('change', (e) => {
  const file = e.target.files[0];
  e.target.value = ''; // picking the same file again (a retry) fires change again
  addImage(file);
});
$('toggle-all-turns').addEventListener('change', () => {
  state.shownTurn = null;
  applyTurnFilter();
});
for (const [id, key] of [['toggle-boxes', 'boxes'], ['toggle-masks', 'masks'], ['toggle-points', 'points']]) {
  $(id).addEventListener('change', (e) => stage.setVisibility({ [key]: e.target.checked }));
}
$('download-png').addEventListener('click', async () => {
  const blob = await stage.toPngBlob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'groundchat-annotated.png';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});
const area = $('stage-area');
area.addEventListener('dragover', (e) => { e.preventDefault(); area.classList.add('drag'); });
area.addEventListener('dragleave', () => area.classList.remove('drag'));
area.addEventListener('drop', (e) => {
  e.preventDefault();
  area.classList.remove('drag');
  addImage(e.dataTransfer.files[0]);
});
document.addEventListener('paste', (e) => {
  const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith('image/'));
  if (item) addImage(item.getAsFile());
});
const suggestions = $('suggestions');
for (const s of SUGGESTIONS) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'chip';
  b.textContent = s;
  b.addEventListener('click', () => send(s));
  suggestions.appendChild(b);
}

// ---- signing in -------------------------------------------------------------------------------

function showLogin(message) {
  if (state.conversation) closeConversation();
  $('app').hidden = true;
  $('login-screen').hidden = false;
  $('login-error').hidden = !message;
  $('login-error').textContent = message || '';
  $('login-user').focus();
  offerProviderSignIn();
}

/** The "Sign in with ..." link, when the server has an OpenID Connect provider configured. */
async function offerProviderSignIn() {
  try {
    const providers = await (await fetch('/auth/providers')).json();
    $('login-oidc').hidden = !providers.oidc;
    if (providers.oidc) $('login-oidc').textContent = `Sign in with ${providers.oidcLabel}`;
  } catch {
    // no link: the password form still works
  }
}

async function start() {
  let me;
  try {
    me = await api.me();
  } catch (e) {
    if (e.status !== 401) toast(e.message);
    return;
  }
  $('login-screen').hidden = true;
  $('app').hidden = false;
  $('who').textContent = me.username;
  $('who').hidden = false;
  $('who').onclick = () => account.open(me);
  $('logout').hidden = false;
  refreshList();
  if (!modelInfo.info) modelInfo.load();
  if (location.hash.length > 1) openConversation(location.hash.slice(1));
}

const account = new AccountDialog(toast);
const modelInfo = new ModelInfo({
  onSample: (file) => addImage(file),
  onError: (message) => toast(message),
  onQuestion: (text) => {
    $('composer-text').value = text;
    $('composer-text').focus();
    modelInfo.markUnknown();
  },
});
window.addEventListener('groundchat:signed-out', () => showLogin());
$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('login-btn').disabled = true;
  try {
    await api.login($('login-user').value, $('login-password').value);
    $('login-password').value = '';
    await start();
  } catch (err) {
    showLogin(err.message);
  } finally {
    $('login-btn').disabled = false;
  }
});
$('logout').addEventListener('click', async () => {
  try {
    await api.logout();
  } catch {
    // signed out already
  }
  showLogin();
});

setBusy(false);
start();
