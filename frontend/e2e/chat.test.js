// End-to-end tests of the UI in Debian's Chromium against the running app (real model, real database).
// Run by BrowserEndToEndTest (mvn test), which starts the app and sets GROUNDCHAT_URL, GOLDEN_DIR, SCREENSHOT_DIR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.GROUNDCHAT_URL || 'http://localhost:8080/';
const GOLDEN = process.env.GOLDEN_DIR || 'models/default/golden';
const SHOTS = process.env.SCREENSHOT_DIR || 'target/e2e-screenshots';
const golden = JSON.parse(readFileSync(join(GOLDEN, 'golden.json'), 'utf8'));
mkdirSync(SHOTS, { recursive: true });

let browser;
let page;
const TIMEOUT = 60000;
// a sparse golden scene where the shipped model localizes reliably (its hard numbers: models/default/EVAL.md)
const SPARSE = 6;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(BASE);
  await signIn(page, 'not-the-password');
  assert.match(await page.locator('#login-error').textContent(), /Wrong username or password/);
  await page.screenshot({ path: join(SHOTS, '00-sign-in-refused.png') });
  await signIn(page);
});

const ADMIN_PASSWORD = process.env.GROUNDCHAT_ADMIN_PASSWORD || 'test-admin-password';

/** Signs in through the form (every new browser context starts signed out); a wrong password leaves the form up. */
async function signIn(p, password = ADMIN_PASSWORD, username = 'admin') {
  await p.locator('#login-screen:not([hidden])').waitFor();
  await p.locator('#login-user').fill(username);
  await p.locator('#login-password').fill(password);
  await p.locator('#login-btn').click();
  if (password === ADMIN_PASSWORD || username !== 'admin') await p.locator('#app:not([hidden])').waitFor();
  else await p.locator('#login-error:not([hidden])').waitFor();
}

after(async () => { if (browser) await browser.close(); });

function iou(a, b) {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

async function lastAssistantDone() {
  await page.waitForFunction(() => {
    const all = [...document.querySelectorAll('.message.assistant')];
    const last = all[all.length - 1];
    return last && ['complete', 'cancelled', 'failed'].includes(last.dataset.status) && document.body.dataset.busy === '';
  }, null, { timeout: TIMEOUT });
}

test('ask for an object: its box is drawn where the object is and its phrase is coloured', async () => {
  const c = golden.cases[SPARSE];
  await page.goto(BASE);
  await page.locator('#file-input').setInputFiles(join(GOLDEN, c.image));
  await page.locator('#frame:not([hidden]) img').waitFor();
  await page.screenshot({ path: join(SHOTS, '1-image-added.png') });
  await page.locator('#composer-text').fill(c.turns[0].user);
  await page.keyboard.press('Enter');
  await lastAssistantDone();
  const region = page.locator('.region').first();
  await region.waitFor();
  const box = await region.evaluate((el) => ['x1', 'y1', 'x2', 'y2'].map((k) => Number(el.dataset[k])));
  const truth = c.truth[0].box_px;
  assert.ok(iou(box, truth) >= 0.5, `drawn box ${box} vs truth ${truth}: IoU ${iou(box, truth)}`);
  const phrase = page.locator('.message.assistant .phrase').first();
  const { color, boxColor } = await phrase.evaluate((el) => {
    const r = document.querySelector(`.region[data-number="${el.dataset.number}"]`);
    const hex = parseInt(r.dataset.color.slice(1), 16);
    return { color: getComputedStyle(el).color, boxColor: `rgb(${hex >> 16}, ${(hex >> 8) & 255}, ${hex & 255})` };
  });
  assert.equal(color, boxColor, 'the phrase is coloured like its box');
  await page.screenshot({ path: join(SHOTS, '2-grounded-answer.png') });
});

test('a streaming answer ends in a blinking caret (steady with reduced motion) that is gone when it is done', async () => {
  // the stream can be short: a MutationObserver in the page records the caret whenever it appears
  await page.evaluate(() => {
    window.caretSeen = null;
    window.caretObserver = new MutationObserver(() => {
      const c = document.querySelector('.message.assistant[data-status="streaming"] .message-text > .caret:last-child');
      if (c && !window.caretSeen) window.caretSeen = { animation: getComputedStyle(c).animationName, hidden: c.getAttribute('aria-hidden') };
    });
    window.caretObserver.observe(document.getElementById('messages'), { childList: true, subtree: true, attributes: true });
  });
  const before = await page.locator('.message').count();
  await page.locator('#composer-text').fill(golden.cases[SPARSE].turns[0].user);
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => document.querySelectorAll('.message').length >= n + 2, before);
  await lastAssistantDone();
  const seen = await page.evaluate(() => { window.caretObserver.disconnect(); return window.caretSeen; });
  assert.deepEqual(seen, { animation: 'caret-blink', hidden: 'true' }, 'a blinking caret ends the text while it streams');
  assert.equal(await page.locator('.caret').count(), 0, 'no caret once the answer is done');
  await page.emulateMedia({ reducedMotion: 'reduce' });
  const reduced = await page.evaluate(() => {
    const c = document.createElement('span');
    c.className = 'caret';
    document.getElementById('messages').appendChild(c);
    const animation = getComputedStyle(c).animationName;
    c.remove();
    return animation;
  });
  await page.emulateMedia({ reducedMotion: null });
  assert.equal(reduced, 'none', 'prefers-reduced-motion: the caret does not blink');
});

test('clicking [n] in an answer puts the reference into the message box, with no script error', async () => {
  const errors = [];
  const onError = (e) => errors.push(e.message);
  page.on('pageerror', onError);
  try {
    await page.locator('#composer-text').fill('');
    const ref = page.locator('.message.assistant .ref').last();
    const label = await ref.textContent();
    await ref.click();
    assert.equal((await page.locator('#composer-text').inputValue()).trim(), label);
    assert.deepEqual(errors, []);
    await page.locator('#composer-text').fill('');
  } finally {
    page.off('pageerror', onError);
  }
});

test('draw a box and get a region caption', async () => {
  const c = golden.cases[SPARSE];
  const t = c.truth[0].box_px;
  const frame = page.locator('#frame');
  const rect = await frame.boundingBox();
  const sx = rect.width / c.width;
  const sy = rect.height / c.height;
  await page.mouse.move(rect.x + t[0] * sx, rect.y + t[1] * sy);
  await page.mouse.down();
  await page.mouse.move(rect.x + ((t[0] + t[2]) / 2) * sx, rect.y + ((t[1] + t[3]) / 2) * sy, { steps: 4 });
  await page.mouse.move(rect.x + t[2] * sx, rect.y + t[3] * sy, { steps: 4 });
  await page.mouse.up();
  await page.locator('.pending-region').waitFor();
  await page.screenshot({ path: join(SHOTS, '3-box-drawn.png') });
  const before = await page.locator('.message').count();
  await page.locator('#composer-text').fill('what is this #1 ?');
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => document.querySelectorAll('.message').length >= n + 2, before);
  await lastAssistantDone();
  const user = await page.locator('.message.user').last().innerText();
  assert.match(user, /\[\d+]/, 'the drawn box became a numbered region in the message');
  const caption = await page.locator('.message.assistant').last().locator('.message-text').innerText();
  assert.ok(caption.trim().length > 0, 'a caption came back');
  await page.screenshot({ path: join(SHOTS, '4-region-caption.png') });
});

test('reload shows the history', async () => {
  const count = await page.locator('.message').count();
  await page.reload();
  await page.waitForFunction((n) => document.querySelectorAll('.message').length === n, count);
  assert.ok(count >= 4);
  assert.ok(await page.locator('.region').count() >= 1, 'regions are drawn again');
  await page.screenshot({ path: join(SHOTS, '5-after-reload.png') });
});

test('a message sent while the connection is down waits in a visible outbox, can be cancelled, and goes out once when it is back', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await context.newPage();
  p.setDefaultTimeout(TIMEOUT);
  const errors = []; // from signing in on: before it, /api/me's 401 is the expected way to find the sign-in form
  // the conversation socket goes through this route: while `down`, every connection is closed at once (what a
  // dropped network or a restarting server looks like to socket.js); up, it is relayed to the server, counting
  // the user_turn frames the page sends
  let down = false;
  const live = [];
  const userTurns = [];
  await p.routeWebSocket(/\/ws\/conversations\//, (ws) => {
    if (down) { ws.close(); return; }
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      if (typeof m === 'string' && JSON.parse(m).type === 'user_turn') userTurns.push(m);
      server.send(m);
    });
    live.push({ ws, server });
  });
  try {
    await p.goto(BASE);
    await signIn(p);
    p.on('pageerror', (e) => errors.push(e.message));
    p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await p.locator('#new-conversation').click();
    await p.locator('#file-input').setInputFiles(join(GOLDEN, golden.cases[SPARSE].image));
    await p.locator('#frame:not([hidden]) img').waitFor();
    await p.waitForFunction(() => location.hash.length > 1); // the upload stored the conversation
    await p.locator('#conn-status[data-state="online"]').waitFor();
    const id = await p.evaluate(() => location.hash.slice(1));

    down = true;
    for (const l of live.splice(0)) { await l.ws.close(); await l.server.close(); }
    await p.locator('#conn-status:not([data-state="online"])').waitFor();
    const question = golden.cases[SPARSE].turns[0].user;
    await p.locator('#composer-text').fill(question);
    await p.keyboard.press('Enter');
    const outbox = p.locator('.message.user.outbox');
    await outbox.waitFor();
    assert.equal((await outbox.locator('.message-text').innerText()).trim(), question, 'the pending bubble keeps the text');
    assert.match(await outbox.locator('.message-meta').innerText(), /waiting for connection/i);
    // a second message, cancelled: it leaves the outbox and its text goes back to the message box
    await p.locator('#composer-text').fill('is there a blue star ?');
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => document.querySelectorAll('.message.outbox').length === 2);
    await p.screenshot({ path: join(SHOTS, '5b-outbox-offline.png') });
    await outbox.last().getByRole('button', { name: /Cancel this message/ }).click();
    assert.equal(await outbox.count(), 1);
    assert.equal(await p.locator('#composer-text').inputValue(), 'is there a blue star ?');
    await p.locator('#composer-text').fill('');
    assert.equal(userTurns.length, 0, 'nothing went out while the connection was down');

    down = false; // socket.js reconnects on its own backoff
    await p.locator('#conn-status[data-state="online"]').waitFor();
    await p.waitForFunction(() => {
      const all = [...document.querySelectorAll('.message.assistant')];
      const last = all[all.length - 1];
      return !document.querySelector('.message.outbox') && last && last.dataset.status === 'complete' && document.body.dataset.busy === '';
    });
    assert.equal(userTurns.length, 1, 'the waiting message was sent exactly once');
    assert.ok((await p.locator('.message.assistant .message-text').last().innerText()).trim().length > 0, 'and answered');
    const stored = await p.evaluate(async (id) => (await fetch(`/api/conversations/${id}`)).json(), id);
    const summary = stored.messages.map((m) => `${m.role}:${m.status}`);
    assert.deepEqual(summary, ['user:complete', 'assistant:complete'], `nothing extra is stored: ${JSON.stringify(summary)}`);
    assert.equal(stored.messages[0].text.trim(), question);
    assert.equal(await p.locator('.message').count(), 2);
    await p.screenshot({ path: join(SHOTS, '5c-outbox-sent.png') });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

/** Presses Tab until the element with this id has the focus (keyboard-only navigation); fails after 60 presses. */
async function tabTo(p, id) {
  const seen = [];
  for (let i = 0; i < 60; i++) {
    const at = await p.evaluate(() => { const a = document.activeElement; return a ? `${a.tagName}#${a.id}.${a.className}:${(a.textContent || '').replace(/\s+/g, ' ').slice(0, 20)}` : ''; });
    if (at.split('.')[0].endsWith(`#${id}`)) return;
    seen.push(at);
    await p.keyboard.press('Tab');
  }
  assert.fail(`#${id} cannot be reached with Tab; focus went through ${seen.join(' | ')}`);
}

test('narrow screen, keyboard only: draw a box, ask about it, get an answer', async () => {
  const narrow = await browser.newPage({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  narrow.setDefaultTimeout(TIMEOUT);
  try {
    await narrow.goto(page.url()); // the conversation's link (#id), opened in a fresh browser context
    await signIn(narrow); // a fresh context has no session; after signing in the link's conversation opens
    await narrow.locator('#frame:not([hidden]) img').waitFor();
    const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling on a 390 px screen (overflow ${overflow} px)`);
    const { width, height } = await narrow.locator('#stage-img').evaluate((img) => ({ width: img.naturalWidth, height: img.naturalHeight }));

    await tabTo(narrow, 'skip-image'); // the second stop, before the (long) conversation list
    await narrow.keyboard.press('Enter');
    assert.equal(await narrow.evaluate(() => document.activeElement.id), 'frame');
    assert.ok(narrow.url().endsWith(new URL(page.url()).hash), 'the skip link kept the conversation in the address');
    await narrow.keyboard.press('Enter'); // a box of a quarter of the image, centred
    for (let i = 0; i < 3; i++) await narrow.keyboard.press('ArrowRight'); // moved right by 3 x 2%
    for (let i = 0; i < 5; i++) await narrow.keyboard.press('Shift+ArrowDown'); // 5 x 2% taller
    await narrow.keyboard.press('Enter');
    const pending = narrow.locator('.pending-region');
    await pending.waitFor();
    const box = await pending.evaluate((el) => ['x1', 'y1', 'x2', 'y2'].map((k) => Number(el.dataset[k])));
    const expected = [width * (0.375 + 0.06), height * 0.375, width * (0.625 + 0.06), height * (0.625 + 0.1)];
    box.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= 1.5, `keyboard box ${box} vs expected ${expected}`));
    await narrow.screenshot({ path: join(SHOTS, '6-narrow-keyboard-box.png'), fullPage: true });

    await narrow.keyboard.press('Shift+Tab'); // back to the top, then the first skip link
    await narrow.evaluate(() => document.activeElement.blur());
    await tabTo(narrow, 'skip-composer');
    await narrow.keyboard.press('Enter');
    assert.equal(await narrow.evaluate(() => document.activeElement.id), 'composer-text');
    const before = await narrow.locator('.message').count();
    await narrow.keyboard.type('what is this #1 ?');
    await narrow.keyboard.press('Enter');
    await narrow.waitForFunction((n) => document.querySelectorAll('.message').length >= n + 2, before);
    await narrow.waitForFunction(() => {
      const all = [...document.querySelectorAll('.message.assistant')];
      return all.length && all[all.length - 1].dataset.status === 'complete' && document.body.dataset.busy === '';
    });
    assert.match(await narrow.locator('.message.user').last().innerText(), /what is this \[\d+] \?/);
    assert.ok((await narrow.locator('.message.assistant').last().locator('.message-text').innerText()).trim().length > 0);
    const after = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(after <= 0, `still no horizontal scrolling after the answer (overflow ${after} px)`);
    await narrow.screenshot({ path: join(SHOTS, '7-narrow-keyboard-answer.png'), fullPage: true });
  } finally {
    await narrow.close();
  }
});

/** Hands a golden image to the page as a File, through a synthetic paste or drop event carrying a DataTransfer. */
async function giveImage(how, k) {
  const bytes = [...readFileSync(join(GOLDEN, golden.cases[k].image))];
  await page.evaluate(({ how, bytes }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], 'scene.png', { type: 'image/png' }));
    if (how === 'paste') document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true }));
    else document.getElementById('stage-area').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, { how, bytes });
  const c = golden.cases[k];
  await page.waitForFunction(([w, h]) => {
    const img = document.querySelector('#frame:not([hidden]) #stage-img');
    return img && img.complete && img.naturalWidth === w && img.naturalHeight === h;
  }, [c.width, c.height]);
}

/** PNG width and height from its IHDR chunk. */
function pngSize(buf) {
  assert.equal(buf.subarray(1, 4).toString('latin1'), 'PNG');
  return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
}

test('pasted and dropped images; hover links phrase and box; toggles, points, export and download', async () => {
  await page.locator('#new-conversation').click();
  await giveImage('paste', 8);
  await page.locator('#composer-text').fill(golden.cases[8].turns[0].user);
  await page.keyboard.press('Enter');
  await lastAssistantDone();
  const phrase = page.locator('.message.assistant .phrase').last();
  const n = await phrase.getAttribute('data-number');
  const region = page.locator(`.region[data-number="${n}"]`);

  await phrase.hover();
  assert.ok(await region.evaluate((el) => el.classList.contains('hl')), 'hovering the phrase highlights its box');
  await page.locator('#composer-text').hover();
  assert.ok(!(await region.evaluate((el) => el.classList.contains('hl'))), 'leaving the phrase clears it');
  const rb = await region.boundingBox();
  await page.mouse.move(rb.x + rb.width / 2, rb.y + rb.height / 2);
  assert.ok(await phrase.evaluate((el) => el.classList.contains('hl')), 'hovering the box highlights its phrase');

  const maskPixels = () => page.evaluate(() => {
    const c = document.getElementById('mask-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let on = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) on++;
    return { on, hidden: c.hidden };
  });
  const shown = await maskPixels();
  assert.ok(shown.on > 0 && !shown.hidden, 'the mask is painted');
  await page.locator('#toggle-masks').uncheck();
  assert.equal((await maskPixels()).hidden, true, 'Masks off hides the mask layer');
  await page.locator('#toggle-boxes').uncheck();
  assert.equal(await region.isVisible(), false, 'Boxes off hides the boxes');
  await page.locator('#toggle-points').check();
  assert.ok(await page.locator('.overlay.show-points .point-dot').count() > 0, 'Points on shows the word points');
  const pb = await phrase.boundingBox();
  await page.mouse.move(pb.x + 4, pb.y + pb.height / 2);
  await page.locator('.point-focus').waitFor();
  await page.screenshot({ path: join(SHOTS, '8-points.png') });
  await page.locator('#toggle-masks').check();
  await page.locator('#toggle-boxes').check();
  await page.locator('#toggle-points').uncheck();

  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download-png').click()]);
  assert.equal(download.suggestedFilename(), 'groundchat-annotated.png');
  const png = readFileSync(await download.path());
  assert.deepEqual(pngSize(png), [golden.cases[8].width, golden.cases[8].height], 'annotated PNG at the image size');

  const exported = await page.evaluate(async () => {
    const json = await (await fetch(document.getElementById('export-json').href)).json();
    const coco = await (await fetch(document.getElementById('export-coco').href)).json();
    return { messages: json.messages.length, annotations: coco.annotations.length };
  });
  assert.ok(exported.messages >= 2 && exported.annotations >= 1, JSON.stringify(exported));

  await giveImage('drop', 7);
  assert.equal(await page.locator('.region').count(), 0, 'a new image starts without the old boxes');
});

/** The main page's conversation in a plain 390 px window (no device emulation), signed in, its image shown. */
async function openOnPhone() {
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  phone.setDefaultTimeout(TIMEOUT);
  await phone.goto(page.url());
  await signIn(phone);
  await phone.locator('#frame:not([hidden]) img').waitFor();
  return phone;
}

/** Sends a question from the composer and waits for its answer to end. */
async function ask(p, text) {
  const before = await p.locator('.message').count();
  await p.locator('#composer-text').fill(text);
  await p.keyboard.press('Enter');
  await p.waitForFunction((n) => document.querySelectorAll('.message').length >= n + 2, before);
  await p.waitForFunction(() => {
    const all = [...document.querySelectorAll('.message.assistant')];
    const last = all[all.length - 1];
    return last && ['complete', 'cancelled', 'failed'].includes(last.dataset.status) && document.body.dataset.busy === '';
  }, null, { timeout: TIMEOUT });
}

/** What is wrong with the [n] tags shown on the image: smaller than 13 px, outside the image, or covering another. */
function unreadableLabels(p) {
  return p.evaluate(() => {
    const frame = document.getElementById('frame').getBoundingClientRect();
    const tags = [...document.querySelectorAll('.region')].filter((r) => r.checkVisibility())
      .map((r) => ({ n: r.dataset.number, el: r.querySelector('.region-tag') }))
      .map(({ n, el }) => ({ n, r: el.getBoundingClientRect(), size: parseFloat(getComputedStyle(el).fontSize) }));
    const problems = [];
    for (const t of tags) {
      if (t.size < 13) problems.push(`[${t.n}] is ${t.size} px`);
      if (t.r.left < frame.left - 0.5 || t.r.top < frame.top - 0.5 || t.r.right > frame.right + 0.5 || t.r.bottom > frame.bottom + 0.5) {
        problems.push(`[${t.n}] leaves the image`);
      }
    }
    for (let i = 0; i < tags.length; i++) {
      for (let j = i + 1; j < tags.length; j++) {
        const a = tags[i].r;
        const b = tags[j].r;
        if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5) {
          problems.push(`[${tags[i].n}] and [${tags[j].n}] overlap`);
        }
      }
    }
    return { shown: tags.length, problems };
  });
}

const shownRegions = (p) => p.evaluate(() => [...document.querySelectorAll('.region')].filter((r) => r.checkVisibility()).map((r) => Number(r.dataset.number)).sort((a, b) => a - b));
const listed = (li) => li.locator('.legend-item').evaluateAll((els) => els.map((e) => Number(e.dataset.number)));

test('regions people can read: labels apart and inside the image, 20 colours, this turn or all turns, a list per answer, the PNG alike', async () => {
  await page.locator('#new-conversation').click();
  await giveImage('paste', 0); // eight objects, two of them in one place: the model boxes it several times
  await ask(page, 'describe the image .');
  await ask(page, 'find all circles .');
  const answers = page.locator('.message.assistant');
  const first = await listed(answers.nth(0));
  const second = await listed(answers.nth(1));
  assert.ok(first.length >= 3 && second.length >= 1, `regions listed under the answers: ${first} / ${second}`);

  // this turn only, by default: the first answer's boxes have left the image
  assert.deepEqual(await shownRegions(page), second, 'the image shows the latest turn\'s boxes');
  await page.locator('#toggle-all-turns').check();
  assert.deepEqual(await shownRegions(page), [...first, ...second].sort((a, b) => a - b), 'All turns shows every box');
  const labels = await unreadableLabels(page);
  assert.deepEqual(labels.problems, [], `${labels.shown} labels`);
  await page.screenshot({ path: join(SHOTS, '8b-regions-all-turns.png') });

  const colours = await page.evaluate(async () => {
    const { regionColor } = await import(new URL('colors.js', location.href));
    return Array.from({ length: 20 }, (_, i) => regionColor(i + 1));
  });
  assert.equal(new Set(colours).size, 20, `the first 20 regions get 20 colours: ${colours}`);

  // the list: hovering an entry highlights its box, clicking it puts [n] into the message
  const entry = answers.nth(1).locator('.legend-item').first();
  await entry.hover();
  assert.ok(await page.locator(`.region[data-number="${second[0]}"]`).evaluate((el) => el.classList.contains('hl')), 'hovering the entry highlights its box');
  await page.locator('#toggle-all-turns').uncheck();
  await page.locator('#composer-text').fill('');
  await answers.nth(0).locator('.legend-item').first().click();
  assert.equal((await page.locator('#composer-text').inputValue()).trim(), `[${first[0]}]`);
  assert.deepEqual(await shownRegions(page), first, 'clicking an earlier answer\'s entry shows that turn\'s boxes');
  assert.ok(await answers.nth(0).evaluate((el) => el.classList.contains('shown-turn')), 'and marks that turn');
  await page.locator('#composer-text').fill('');

  // the PNG shows what the screen shows: the first turn's labels in their colours, none of the second turn's
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download-png').click()]);
  const bytes = [...readFileSync(await download.path())];
  const want = await page.evaluate(async ({ bytes, first, second }) => {
    const { regionColor, hexToRgb } = await import(new URL('colors.js', location.href));
    const bitmap = await createImageBitmap(new Blob([new Uint8Array(bytes)], { type: 'image/png' }));
    const c = new OffscreenCanvas(bitmap.width, bitmap.height);
    const g = c.getContext('2d');
    g.drawImage(bitmap, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const count = (n) => {
      const [r, gr, b] = hexToRgb(regionColor(n));
      let k = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === gr && d[i + 2] === b) k++;
      return k;
    };
    return { shown: first.map(count), hidden: second.filter((n) => !first.includes(n)).map(count) };
  }, { bytes, first, second });
  assert.ok(want.shown.every((k) => k >= 150), `each shown region's label is in the PNG: ${JSON.stringify(want)}`);
  assert.ok(want.hidden.every((k) => k < 20), `no label of a hidden region is: ${JSON.stringify(want)}`);

  const phone = await openOnPhone();
  try {
    await phone.locator('.legend-item').first().waitFor();
    await phone.locator('#toggle-all-turns').check();
    const small = await unreadableLabels(phone);
    assert.deepEqual(small.problems, [], `${small.shown} labels on a 390 px screen`);
    await phone.screenshot({ path: join(SHOTS, '8c-regions-phone-390.png'), fullPage: true });
  } finally {
    await phone.close();
  }
});

/**
 * In the page: the contrast ratio (WCAG) between an element's `prop` colour and the background it sits on (the first
 * ancestor with an opaque background). Computed colours come as rgb(...) or, for color-mix, color(srgb ...).
 */
function contrastOn(p, selector, prop) {
  return p.locator(selector).first().evaluate((el, prop) => {
    const parse = (c) => {
      const srgb = c.match(/^color\(srgb ([\d.]+) ([\d.]+) ([\d.]+)(?: \/ ([\d.]+))?\)$/);
      if (srgb) return [...srgb.slice(1, 4).map((v) => Number(v) * 255), srgb[4] == null ? 1 : Number(srgb[4])];
      const rgb = c.match(/^rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)$/);
      return [...rgb.slice(1, 4).map(Number), rgb[4] == null ? 1 : Number(rgb[4])];
    };
    const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
      .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
    let bg = null;
    for (let a = el.tagName === 'BUTTON' && prop === 'outlineColor' ? el.parentElement : el; a && !bg; a = a.parentElement) {
      const c = parse(getComputedStyle(a).backgroundColor);
      if (c[3] > 0.9) bg = c;
    }
    bg = bg || [255, 255, 255];
    const [x, y] = [lum(parse(getComputedStyle(el)[prop])), lum(bg)];
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  }, prop);
}

test('before and around the chat: a focusable Add image with a visible ring, no Tab stop per box, an empty-state note, no false "offline", dark mode', async () => {
  const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  p.setDefaultTimeout(TIMEOUT);
  const errors = [];
  try {
    await p.goto(BASE);
    await signIn(p);
    p.on('pageerror', (e) => errors.push(e.message));
    p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    const pill = () => p.locator('#conn-status').evaluate((el) => (el.checkVisibility() ? el.textContent : ''));
    assert.doesNotMatch(await pill(), /offline/i, 'nothing has been tried yet: the pill does not say offline');
    assert.match(await p.locator('#chat-empty').innerText(), /Ask about the image/);
    assert.ok(await p.locator('#chat-empty').isVisible(), 'the empty chat says what to ask');

    await tabTo(p, 'skip-image'); // with no image yet, the skip link lands on Add image
    await p.keyboard.press('Enter');
    assert.equal(await p.evaluate(() => document.activeElement.id), 'add-image');
    const ring = await p.locator('#add-image').evaluate((el) => {
      const s = getComputedStyle(el);
      const r = el.getBoundingClientRect();
      return { style: s.outlineStyle, width: parseFloat(s.outlineWidth), w: r.width, h: r.height };
    });
    assert.ok(ring.style !== 'none' && ring.width >= 2 && ring.w >= 24 && ring.h >= 24, `a visible ring on a real control: ${JSON.stringify(ring)}`);
    const light = await contrastOn(p, '#add-image', 'outlineColor');
    assert.ok(light >= 3, `focus ring contrast ${light.toFixed(2)}:1`);
    await p.screenshot({ path: join(SHOTS, '13-focus-add-image.png') });

    // a conversation with boxes on its image: from the image, Tab goes on into the chat, not through every box
    await p.goto(page.url());
    await p.reload(); // a new #hash alone does not load the page again
    await p.locator('.legend-item').first().waitFor();
    await p.locator('#toggle-all-turns').check();
    assert.ok(await p.locator('.region').count() >= 3);
    assert.ok(!(await p.locator('#chat-empty').isVisible()), 'the note goes once there are messages');
    await p.locator('#conn-status[data-state="online"]').waitFor();
    await p.locator('#frame').focus();
    const path = [];
    for (let i = 0; i < 30; i++) {
      await p.keyboard.press('Tab');
      const at = await p.evaluate(() => ({ inChat: !!document.activeElement.closest('.chat'), onImage: !!document.activeElement.closest('#overlay'), id: document.activeElement.id }));
      path.push(at.id || (at.onImage ? 'a box' : '?'));
      if (at.inChat) break;
      assert.ok(!at.onImage, `Tab stopped on a box: ${path.join(' > ')}`);
    }
    assert.ok(path.length <= 8, `from the image to the chat in a few Tabs: ${path.join(' > ')}`);

    await p.emulateMedia({ colorScheme: 'dark' });
    const dark = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = dark.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 150, `prefers-color-scheme: dark gives a dark page (${dark})`);
    for (const [selector, prop, min] of [['.message.assistant .message-text', 'color', 4.5], ['.message.assistant .phrase', 'color', 4.5],
      ['.legend-item', 'color', 4.5], ['#composer-text', 'color', 4.5]]) {
      const c = await contrastOn(p, selector, prop);
      assert.ok(c >= min, `dark mode: ${selector} ${c.toFixed(2)}:1`);
    }
    await p.locator('#add-image').focus();
    await p.keyboard.press('Shift+Tab');
    await p.keyboard.press('Tab');
    const darkRing = await contrastOn(p, '#add-image', 'outlineColor');
    assert.ok(darkRing >= 3, `dark mode focus ring contrast ${darkRing.toFixed(2)}:1`);
    await p.screenshot({ path: join(SHOTS, '14-dark-mode.png') });
    await p.setViewportSize({ width: 390, height: 844 });
    await p.screenshot({ path: join(SHOTS, '14b-dark-mode-390.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await p.close();
  }
});

test('each message shows when it was written; an answer can be copied', async () => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(BASE).origin });
  const id = await page.evaluate(() => location.hash.slice(1));
  const stored = await page.evaluate(async (id) => (await (await fetch(`/api/conversations/${id}`)).json()).messages, id);
  // to the millisecond: a streamed message carries nanoseconds, the stored one microseconds
  const times = await page.locator('.message time').evaluateAll((els) => els.map((e) => Date.parse(e.dateTime)));
  assert.deepEqual(times, stored.map((m) => Date.parse(m.createdAt)), 'a time on every message');
  const answer = stored.filter((m) => m.role === 'assistant').pop();
  await page.locator('.message.assistant').last().getByRole('button', { name: 'Copy this answer' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), answer.text);
  assert.equal(await page.locator('.message.assistant .message-copy').last().textContent(), 'Copied');
});

/** Collects the page's script errors and console errors until stop(). */
function watchErrors(p) {
  const errors = [];
  const onError = (e) => errors.push(e.message);
  const onConsole = (m) => { if (m.type() === 'error') errors.push(m.text()); };
  p.on('pageerror', onError);
  p.on('console', onConsole);
  return { errors, stop: () => { p.off('pageerror', onError); p.off('console', onConsole); } };
}

test('edit and resend the last question: its text comes back to the composer, sending asks it again as a new question', async () => {
  const { errors, stop } = watchErrors(page);
  try {
    const id = await page.evaluate(() => location.hash.slice(1));
    const stored = async () => page.evaluate(async (id) => (await (await fetch(`/api/conversations/${id}`)).json()).messages, id);
    const before = await stored();
    const lastQuestion = before.filter((m) => m.role === 'user').pop();
    // one Edit, on the last question only
    const edits = page.locator('.message-edit:visible');
    assert.equal(await edits.count(), 1, 'only the last question can be edited');
    const lastUser = page.locator('.message.user').last();
    assert.equal(await lastUser.locator('.message-edit').isVisible(), true);

    // Cancel leaves nothing behind
    await lastUser.getByRole('button', { name: 'Edit this question and send it again' }).click();
    assert.equal(await page.locator('#composer-text').inputValue(), lastQuestion.text);
    assert.equal(await page.locator('#edit-note').isVisible(), true);
    await page.locator('#edit-cancel').click();
    assert.equal(await page.locator('#composer-text').inputValue(), '');
    assert.equal(await page.locator('#edit-note').isVisible(), false);

    await lastUser.getByRole('button', { name: 'Edit this question and send it again' }).click();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-text', 'the composer has the focus');
    assert.equal(await page.locator('#composer-text').inputValue(), lastQuestion.text, 'the question is back in the composer');
    assert.match(await page.locator('#edit-note').innerText(), /Editing your last question/);
    await page.screenshot({ path: join(SHOTS, '13c-editing-last-question.png') });
    const edited = golden.cases[SPARSE].turns[0].user;
    await page.locator('#composer-text').fill(edited);
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.querySelectorAll('.message').length >= n + 2, before.length);
    await lastAssistantDone();
    assert.equal((await page.locator('.message.user').last().locator('.message-text').innerText()).trim(), edited);
    assert.equal(await page.locator('#edit-note').isVisible(), false, 'editing ends when it is sent');
    assert.equal(await page.locator('.message.user.editing').count(), 0);
    const after = await stored();
    assert.equal(after.length, before.length + 2, 'a new question and its answer');
    assert.deepEqual(after.slice(0, before.length).map((m) => m.id), before.map((m) => m.id), 'the earlier turn stays, as the README says');
    assert.equal(after[after.length - 2].text.trim(), edited);
    assert.equal(after[after.length - 1].status, 'complete');
    assert.equal(await page.locator('.message-edit:visible').count(), 1, 'Edit moved to the new last question');
    assert.equal(await page.locator('.message.user').last().locator('.message-edit').isVisible(), true);
    await page.screenshot({ path: join(SHOTS, '13d-edited-and-resent.png') });

    const phone = await openOnPhone();
    try {
      const edit = phone.locator('.message.user').last().getByRole('button', { name: 'Edit this question and send it again' });
      await edit.click();
      assert.equal(await phone.locator('#composer-text').inputValue(), edited);
      for (const sel of ['#edit-note', '#edit-cancel', '#send-btn']) {
        const box = await phone.locator(sel).boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${sel} is on a 390 px screen (${JSON.stringify(box)})`);
      }
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow} px)`);
      await phone.screenshot({ path: join(SHOTS, '13e-editing-390.png') });
    } finally {
      await phone.close();
    }
    assert.deepEqual(errors, []);
  } finally {
    stop();
  }
});

/**
 * Keeps the server's answer pool busy: `count` long answers ("describe the image" on the 8-object golden scene) in
 * other conversations, sent from the page like any other client; resolves once each is started or queued.
 */
async function occupyAnswerPool(count) {
  const bytes = [...readFileSync(join(GOLDEN, golden.cases[1].image))];
  await page.evaluate(async ({ bytes, count }) => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'busy.png');
    const image = await (await fetch('/api/images', { method: 'POST', body: form })).json();
    const waits = [];
    for (let i = 0; i < count; i++) {
      const conv = await (await fetch('/api/conversations', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: `busy ${i}` }),
      })).json();
      const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws/conversations/${conv.id}`);
      waits.push(new Promise((resolve, reject) => {
        ws.onopen = () => ws.send(JSON.stringify({ type: 'user_turn', text: 'describe the image .', imageId: image.id }));
        ws.onmessage = (m) => { if (['started', 'queued'].includes(JSON.parse(m.data).type)) resolve(); };
        ws.onerror = () => reject(new Error('busy socket failed'));
      }));
    }
    await Promise.all(waits);
  }, { bytes, count });
}

test('a queued answer shows its place and Stop cancels it', async () => {
  // six long answers ahead: with three, a slow machine's screenshot could outlast the queue and Stop was gone
  await occupyAnswerPool(6);
  await page.locator('#composer-text').fill('describe the image .');
  await page.keyboard.press('Enter');
  const meta = page.locator('.message.assistant').last().locator('.message-meta');
  await page.waitForFunction(() => {
    const all = [...document.querySelectorAll('.message.assistant .message-meta')];
    return /Waiting: [1-9]\d* answers? ahead/.test(all[all.length - 1]?.textContent || '');
  });
  assert.match(await meta.innerText(), /^Waiting: \d+ answers? ahead$/);
  const size = await meta.evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  assert.ok(size >= 13, `the place in the queue is readable (${size} px)`);
  assert.equal(await page.locator('body').getAttribute('data-busy'), 'queued');
  // the feedback is read inside the click (after the app's own listener), before any answer from the server
  await page.evaluate(() => {
    const b = document.getElementById('stop-btn');
    b.addEventListener('click', () => { window.stopFeedback = { text: b.textContent, disabled: b.disabled }; }, { once: true });
  });
  // Stop first, the screenshot after: the queue does not wait for the test
  await page.locator('#stop-btn').click();
  assert.deepEqual(await page.evaluate(() => window.stopFeedback), { text: 'Stopping…', disabled: true }, 'Stop answers at once');
  await page.screenshot({ path: join(SHOTS, '9-queued-then-stopped.png') });
  await lastAssistantDone();
  const last = page.locator('.message.assistant').last();
  assert.equal(await last.getAttribute('data-status'), 'cancelled');
  assert.deepEqual(await page.locator('#stop-btn').evaluate((b) => [b.textContent, b.disabled, b.hidden]), ['Stop', false, true],
    'after the cancelled event Stop is given back (and hidden)');
  await page.screenshot({ path: join(SHOTS, '10-stopped.png') });
});

test('controls that cannot act are disabled; New while offline loses nothing; the same file can be picked again', async () => {
  await page.goto(BASE);
  await page.locator('#app:not([hidden])').waitFor();
  // nothing open: no image to download, nothing to export or regenerate
  assert.equal(await page.locator('#download-png').isDisabled(), true);
  assert.equal(await page.locator('#export-json').getAttribute('aria-disabled'), 'true');
  assert.equal(await page.locator('#regen-btn').isDisabled(), true);
  await page.locator('#new-conversation').click();
  // an empty conversation has no question to answer again
  assert.equal(await page.locator('#regen-btn').isDisabled(), true, 'Regenerate on an empty conversation');
  await page.locator('#file-input').setInputFiles(join(GOLDEN, golden.cases[SPARSE].image));
  await page.locator('#frame:not([hidden]) img').waitFor();
  assert.equal(await page.locator('#file-input').inputValue(), '', 'the picker is reset, so the same file fires again');
  assert.equal(await page.locator('#download-png').isDisabled(), false);
  await page.waitForFunction(() => location.hash.length > 1);
  const id = await page.evaluate(() => location.hash.slice(1));
  // New stores nothing, so it needs no server: offline it opens an empty draft and the conversation stays listed
  await page.context().setOffline(true);
  await page.locator('#new-conversation').click();
  assert.equal(await page.locator('#conv-title').textContent(), 'New conversation');
  assert.equal(await page.evaluate(() => location.hash), '');
  assert.equal(await page.locator('.toast').count(), 0, 'nothing failed');
  await page.screenshot({ path: join(SHOTS, '9-new-offline-keeps-conversation.png') });
  await page.context().setOffline(false);
  await page.locator(`#conv-list li[data-id="${id}"] .conv-open`).click();
  await page.locator('#frame:not([hidden]) img').waitFor();
  assert.equal(await page.evaluate(() => location.hash.slice(1)), id, 'and opens again with its image');
});

test('a complaint shows once, above the composer, and goes when its cause is fixed', async () => {
  await page.goto(BASE);
  await page.locator('#app:not([hidden])').waitFor();
  await page.locator('#composer-text').fill('where is the red star ?');
  await page.keyboard.press('Enter');
  await page.locator('#composer-text').fill('where is the red star ?');
  await page.keyboard.press('Enter');
  const toasts = page.locator('.toast');
  await toasts.first().waitFor();
  assert.equal(await toasts.count(), 1, 'the same message is not stacked');
  assert.match(await toasts.first().textContent(), /Add an image first/);
  const t = await toasts.first().boundingBox();
  for (const id of ['#send-btn', '#composer-text']) {
    const b = await page.locator(id).boundingBox();
    const overlap = t.x < b.x + b.width && b.x < t.x + t.width && t.y < b.y + b.height && b.y < t.y + t.height;
    assert.ok(!overlap, `the toast covers ${id}`);
  }
  await page.screenshot({ path: join(SHOTS, '10-toast-above-composer.png') });
  await page.locator('#file-input').setInputFiles(join(GOLDEN, golden.cases[SPARSE].image));
  await page.locator('#frame:not([hidden]) img').waitFor();
  assert.equal(await page.locator('.toast').count(), 0, 'adding the image removes "Add an image first"');
});

test('a plain 390 px window (no device emulation): nothing is wider than the window and every control is on screen', async () => {
  const phone = await openOnPhone();
  try {
    const width = await phone.evaluate(() => window.innerWidth);
    assert.equal(width, 390);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the window`);
    for (const id of ['send-btn', 'new-conversation', 'export-json', 'export-coco', 'conn-status', 'logout', 'download-png']) {
      const box = await phone.locator(`#${id}`).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `#${id} is on screen (${JSON.stringify(box)})`);
    }
    await phone.screenshot({ path: join(SHOTS, '12-phone-390.png'), fullPage: true });
  } finally {
    await phone.close();
  }
});

test('an admin adds a user, who signs in and sees only their own (empty) conversation list', async () => {
  const name = `user${Date.now() % 100000}`;
  await page.locator('#who').click();
  await page.locator('#account[open]').waitFor();
  await page.locator('#user-name').fill(name);
  await page.locator('#user-password').fill('a-long-password');
  await page.locator('#user-form button[type=submit]').click();
  await page.locator('#user-list li', { hasText: name }).waitFor();
  await page.locator('#token-name').fill('e2e');
  await page.locator('#token-form button[type=submit]').click();
  assert.match(await page.locator('#new-token:not([hidden])').textContent(), /gc_/);
  await page.screenshot({ path: join(SHOTS, '11-account-dialog.png') });
  await page.locator('#account-close').click();
  assert.ok(await page.locator('#conv-list li').count() > 0, 'the admin has conversations from the earlier tests');

  const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  other.setDefaultTimeout(TIMEOUT);
  try {
    await other.goto(BASE);
    await signIn(other, 'a-long-password', name);
    await other.locator('#conv-empty:not([hidden])').waitFor();
    assert.equal(await other.locator('#conv-list li').count(), 0, 'a new user sees none of the admin\'s conversations');
  } finally {
    await other.close();
  }
});

test('the conversation list: New stores nothing until the first upload, dates, thumbnails, search, inline rename', async () => {
  const dialogs = [];
  const onDialog = async (d) => { dialogs.push(d.message()); await d.dismiss(); };
  page.on('dialog', onDialog);
  try {
    await page.goto(BASE);
    await page.reload(); // the list as the server has it now
    await page.locator('#conv-list li').first().waitFor();
    const total = () => page.evaluate(async () => (await (await fetch('/api/conversations?size=1')).json()).total);
    const before = await total();
    for (let i = 0; i < 3; i++) await page.locator('#new-conversation').click();
    assert.equal(await page.locator('#conv-title').textContent(), 'New conversation');
    assert.equal(await total(), before, 'New alone stores no empty conversation');
    await page.locator('#file-input').setInputFiles(join(GOLDEN, golden.cases[SPARSE].image));
    await page.locator('#frame:not([hidden]) img').waitFor();
    await page.waitForFunction(() => location.hash.length > 1);
    assert.equal(await total(), before + 1, 'the first upload stores it');
    const id = await page.evaluate(() => location.hash.slice(1));
    const item = page.locator(`#conv-list li[data-id="${id}"]`);
    await item.waitFor();
    assert.ok(await item.locator('time.conv-date').getAttribute('datetime'), 'a date');
    await item.locator('img.conv-thumb').evaluate((img) => img.decode());
    assert.ok(await item.locator('img.conv-thumb').evaluate((img) => img.naturalWidth > 0), 'a thumbnail of its image');

    // rename in place: the title turns into a field, Enter saves
    const title = `renamed ${Date.now()}`;
    await item.hover(); // Rename and Delete show on hover (or focus), so the title keeps the width
    await item.getByRole('button', { name: /^Rename / }).click();
    const field = page.locator('#conv-list .conv-rename');
    assert.equal(await field.evaluate((el) => el === document.activeElement), true, 'the field has the focus');
    await field.fill(title);
    await field.press('Enter');
    await page.locator('#conv-list li', { hasText: title }).waitFor();
    assert.equal(await page.locator('#conv-title').textContent(), title);
    const stored = await page.evaluate(async (id) => (await (await fetch(`/api/conversations/${id}`)).json()).title, id);
    assert.equal(stored, title, 'the new title is stored');

    // search by title
    await page.locator('#conv-search').fill(title.toUpperCase());
    assert.deepEqual(await page.locator('#conv-list li').evaluateAll((els) => els.map((e) => e.dataset.id)), [id]);
    await page.locator('#conv-search').fill('no title has this');
    assert.equal(await page.locator('#conv-list li').count(), 0);
    assert.ok(await page.locator('#conv-nomatch').isVisible(), 'says that nothing matches');
    await page.locator('#conv-search').fill('');
    assert.ok(await page.locator('#conv-list li').count() > 1);
    await page.screenshot({ path: join(SHOTS, '15-conversation-list.png') });
    const phone = await openOnPhone();
    try {
      await phone.screenshot({ path: join(SHOTS, '15b-conversation-list-390.png') });
    } finally {
      await phone.close();
    }
    assert.deepEqual(dialogs, [], 'no prompt() or confirm()');
  } finally {
    page.off('dialog', onDialog);
  }
});

test('the model\'s world in view: what it knows from its bundle, sample scenes, unknown words marked before sending', async () => {
  const errors = [];
  const onError = (e) => errors.push(e.message);
  page.on('pageerror', onError);
  try {
    await page.locator('#new-conversation').click();
    const info = await page.evaluate(async () => (await fetch('/api/model')).json());
    assert.ok(info.words.includes('circle') && info.words.includes('red') && !info.words.includes('<unk>'), 'the tokenizer\'s words');
    assert.ok(info.exampleQuestions.length > 0 && info.samples > 0, JSON.stringify(info));
    const note = page.locator('#model-note');
    await note.waitFor();
    assert.match(await note.innerText(), new RegExp(`${info.name}[\\s\\S]*It knows ${info.words.length} words`));
    await page.screenshot({ path: join(SHOTS, '17-model-world.png') });

    // a word outside the vocabulary is named under the message box as it is typed, the known ones are not
    await page.locator('#composer-text').fill('');
    await page.locator('#composer-text').pressSequentially('where is the red giraffe ?');
    const unknown = page.locator('#unknown-words');
    await unknown.waitFor();
    assert.deepEqual(await unknown.locator('mark').allTextContents(), ['giraffe']);
    await page.screenshot({ path: join(SHOTS, '17b-unknown-word.png') });
    await page.locator('#composer-text').fill('');
    await page.locator('#composer-text').press('End'); // an input event for the emptied box
    await page.locator('#composer-text').press('Backspace');
    assert.equal(await unknown.isVisible(), false, 'nothing is marked in an empty box');

    // a sample scene from the bundle starts the conversation with its image
    await note.locator('.sample').first().click();
    await page.locator('#frame:not([hidden]) img').waitFor();
    await page.waitForFunction(() => location.hash.length > 1);
    assert.ok(await page.locator('#stage-img').evaluate((img) => img.naturalWidth > 0));
    await note.locator('.chip').first().click();
    assert.equal(await page.locator('#composer-text').inputValue(), info.exampleQuestions[0]);
    await page.locator('#composer-text').fill('');
    const phone = await openOnPhone();
    try {
      await phone.locator('#model-note').waitFor();
      await phone.screenshot({ path: join(SHOTS, '17c-model-world-390.png'), fullPage: true });
    } finally {
      await phone.close();
    }
    assert.deepEqual(errors, []);
  } finally {
    page.off('pageerror', onError);
  }
});

test('a new random scene of the model\'s world, drawn by the server, starts a conversation from the empty state', async () => {
  const { errors, stop } = watchErrors(page);
  try {
    const info = await page.evaluate(async () => (await fetch('/api/model')).json());
    const words = new Set(info.words);
    const scenes = [];
    for (let i = 0; i < 2; i++) {
      await page.locator('#new-conversation').click();
      const button = page.locator('#model-note #random-scene');
      await button.waitFor();
      if (i === 0) await page.screenshot({ path: join(SHOTS, '17d-random-scene-button.png') });
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().includes('/api/scenes/random')),
        button.click(),
      ]);
      assert.equal(response.status(), 200);
      assert.equal(response.headers()['content-type'], 'image/png');
      const objects = response.headers()['x-groundchat-objects'].split(', ');
      assert.ok(objects.length >= 1 && objects.length <= 8, objects.join('; '));
      for (const o of objects) assert.ok(o.split(' ').every((w) => words.has(w)), `"${o}" is said in words the model knows`);
      await page.waitForFunction(() => location.hash.length > 1);
      await page.locator('#frame:not([hidden]) img').waitFor();
      const id = await page.evaluate(() => location.hash.slice(1));
      const c = await page.evaluate(async (id) => (await fetch(`/api/conversations/${id}`)).json(), id);
      assert.ok(c.imageId, 'the scene is the conversation\'s image');
      const size = await page.locator('#stage-img').evaluate((img) => [img.naturalWidth, img.naturalHeight]);
      assert.ok(Math.max(...size) >= 320 && Math.max(...size) <= 640, `a scene of the world's sizes: ${size}`);
      scenes.push(c.imageId);
    }
    assert.notEqual(scenes[0], scenes[1], 'each click draws a new scene');
    // the same seed, the same scene: the server draws it deterministically
    const same = await page.evaluate(async () => {
      const a = new Uint8Array(await (await fetch('/api/scenes/random?seed=7&objects=3')).arrayBuffer());
      const b = new Uint8Array(await (await fetch('/api/scenes/random?seed=7&objects=3')).arrayBuffer());
      return a.length === b.length && a.every((v, i) => v === b[i]);
    });
    assert.ok(same);
    await ask(page, 'describe the image .');
    assert.ok((await page.locator('.message.assistant .message-text').last().innerText()).trim().length > 0, 'the model answers about it');
    await page.screenshot({ path: join(SHOTS, '17e-random-scene-answered.png') });

    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    phone.setDefaultTimeout(TIMEOUT);
    try {
      await phone.goto(BASE);
      await signIn(phone);
      await phone.locator('#new-conversation').click();
      const button = phone.locator('#model-note #random-scene');
      await button.waitFor();
      await button.scrollIntoViewIfNeeded();
      const box = await button.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the button is on a 390 px screen (${JSON.stringify(box)})`);
      await button.click();
      await phone.locator('#frame:not([hidden]) img').waitFor();
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow} px)`);
      await phone.screenshot({ path: join(SHOTS, '17f-random-scene-390.png'), fullPage: true });
    } finally {
      await phone.close();
    }
    assert.deepEqual(errors, []);
  } finally {
    stop();
  }
});

test('deleting a conversation can be undone, then offers to delete its image that no other conversation shows', async () => {
  const title = `delete me ${Date.now()}`;
  // an image of its own (random pixels), so no other conversation of this account shows it
  const imageId = await page.evaluate(async (title) => {
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 48;
    const g = canvas.getContext('2d');
    g.fillStyle = `rgb(${Math.floor(Math.random() * 256)}, ${Math.floor(Math.random() * 256)}, 200)`;
    g.fillRect(0, 0, 64, 48);
    g.fillStyle = '#fff';
    g.fillRect(Math.floor(Math.random() * 40), Math.floor(Math.random() * 30), 12, 12);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    const form = new FormData();
    form.append('file', blob, 'own.png');
    const image = await (await fetch('/api/images', { method: 'POST', body: form })).json();
    await fetch('/api/conversations', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title, imageId: image.id }),
    });
    return image.id;
  }, title);
  await page.reload();
  const item = page.locator('#conv-list li', { hasText: title });
  await item.waitFor();
  const dialogs = [];
  const onDialog = async (d) => { dialogs.push(d.message()); await d.dismiss(); };
  page.on('dialog', onDialog);
  try {
    await item.hover();
    await item.getByRole('button', { name: `Delete ${title}` }).click();
    assert.equal(await item.count(), 0, 'it leaves the list at once');
    await page.locator('.toast', { hasText: 'Deleted' }).getByRole('button', { name: 'Undo' }).click();
    await item.waitFor();
    const kept = await page.evaluate(async (t) => (await (await fetch('/api/conversations?size=200')).json()).items.some((c) => c.title === t), title);
    assert.ok(kept, 'Undo keeps it on the server');

    await item.hover();
    await item.getByRole('button', { name: `Delete ${title}` }).click();
    const offer = page.locator('.toast', { hasText: 'Its image is not used by any other conversation.' });
    await offer.waitFor();
    await page.screenshot({ path: join(SHOTS, '16-delete-offers-image.png') });
    await offer.getByRole('button', { name: 'Delete it too' }).click();
    let status = 0;
    for (const deadline = Date.now() + TIMEOUT; status !== 404 && Date.now() < deadline;) {
      status = await page.evaluate(async (id) => (await fetch(`/api/images/${id}`)).status, imageId);
      if (status !== 404) await page.waitForTimeout(200);
    }
    assert.equal(status, 404, 'the image is deleted');
    assert.deepEqual(dialogs, [], 'no confirm()');
  } finally {
    page.off('dialog', onDialog);
  }
  assert.equal(await page.locator('#conv-list li', { hasText: title }).count(), 0);
});

test('sign out: the sign-in form comes back and the session no longer reaches the API', async () => {
  await page.locator('#logout').click();
  await page.locator('#login-screen:not([hidden])').waitFor();
  const status = await page.evaluate(async () => (await fetch('/api/conversations')).status);
  assert.equal(status, 401);
  await page.screenshot({ path: join(SHOTS, '99-signed-out.png') });
});
