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
});

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
  await occupyAnswerPool(3);
  await page.locator('#composer-text').fill('describe the image .');
  await page.keyboard.press('Enter');
  const meta = page.locator('.message.assistant').last().locator('.message-meta');
  await page.waitForFunction(() => {
    const all = [...document.querySelectorAll('.message.assistant .message-meta')];
    return /Queued \(position [1-9]/.test(all[all.length - 1]?.textContent || '');
  });
  assert.match(await meta.innerText(), /Queued \(position \d+\)/);
  assert.equal(await page.locator('body').getAttribute('data-busy'), 'queued');
  await page.screenshot({ path: join(SHOTS, '6-queued.png') });
  await page.locator('#stop-btn').click();
  await lastAssistantDone();
  const last = page.locator('.message.assistant').last();
  assert.equal(await last.getAttribute('data-status'), 'cancelled');
  await page.screenshot({ path: join(SHOTS, '7-stopped.png') });
});
