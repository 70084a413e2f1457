// The official `openai` npm package, unchanged, against GroundChat's /v1 endpoints (run by OpenAiClientsTest with
// GROUNDCHAT_V1, GROUNDCHAT_TOKEN and GOLDEN_DIR). Standard fields for the text; the raw `groundchat` field for regions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.GROUNDCHAT_V1, apiKey: process.env.GROUNDCHAT_TOKEN, maxRetries: 0 });
const MODEL = 'groundchat-shapes-pix2emb';
const image = 'data:image/png;base64,' + readFileSync(`${process.env.GOLDEN_DIR}/case0.png`).toString('base64');
const ask = (text) => [{ role: 'user', content: [{ type: 'text', text }, { type: 'image_url', image_url: { url: image } }] }];

test('models.list names the bundle', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [MODEL]);
});

test('a completion with an image has text and grounded regions', async () => {
  const c = await client.chat.completions.create({ model: MODEL, messages: ask('describe the image .') });
  const text = c.choices[0].message.content;
  assert.ok(text.length > 0);
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.ok(c.usage.prompt_tokens > 70);
  const regions = c.groundchat.regions;
  assert.ok(regions.length > 0, 'regions in the extension field');
  for (const r of regions) {
    assert.equal(r.box.length, 4);
    assert.equal(text.slice(r.phraseStart, r.phraseEnd), r.phrase);
  }
});

test('streaming yields deltas as they are decoded, then regions in the last chunk', async () => {
  const stream = await client.chat.completions.create({ model: MODEL, messages: ask('describe the image .'), stream: true });
  let text = '', deltas = 0, streamedRegions = 0, last;
  const arrivals = [];
  for await (const chunk of stream) {
    arrivals.push(Date.now());
    const delta = chunk.choices[0]?.delta?.content;
    if (delta) { text += delta; deltas++; }
    if (chunk.groundchat?.region) streamedRegions++;
    if (chunk.choices[0]?.finish_reason) last = chunk;
  }
  assert.ok(deltas > 3, `several text deltas (${deltas})`);
  assert.ok(streamedRegions > 0, 'region chunks while streaming');
  assert.equal(last.groundchat.regions.length, streamedRegions);
  // the chunks were not all delivered at once at the end
  assert.ok(arrivals[arrivals.length - 1] - arrivals[0] > 20, `chunks spread over ${arrivals[arrivals.length - 1] - arrivals[0]} ms`);
});

test('errors surface as the client\'s typed errors', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: ask('hi') }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }],
  }), (e) => e instanceof OpenAI.BadRequestError && e.code === 'unsupported_image_url');
  const stranger = new OpenAI({ baseURL: process.env.GROUNDCHAT_V1, apiKey: 'gc_wrong', maxRetries: 0 });
  await assert.rejects(stranger.chat.completions.create({ model: MODEL, messages: ask('hi') }),
    (e) => e instanceof OpenAI.AuthenticationError);
});
