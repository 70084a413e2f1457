// The model's world in view: what the loaded model knows, as its bundle says (GET /api/model), shown in the empty chat
// with sample scenes to start from, and the words of a message that the model does not know, marked before sending
// (its tokenizer turns each of them into <unk>).

const $ = (id) => document.getElementById(id);

export class ModelInfo {
  /**
   * callbacks: {onSample(file), onQuestion(text), onError(message)}: a sample or random scene picked (a PNG File), an
   * example question picked, a random scene that could not be drawn.
   */
  constructor(callbacks) {
    this.cb = callbacks;
    this.info = null;
    this.words = null;
    $('composer-text').addEventListener('input', () => this.markUnknown());
  }

  async load() {
    try {
      const response = await fetch('/api/model', { headers: { Accept: 'application/json' } });
      if (!response.ok) return; // the note is a help, not a requirement: the chat works without it
      this.info = await response.json();
    } catch {
      return;
    }
    // an empty list: a subword tokenizer, which spells any word; nothing is unknown to it
    this.words = this.info.words.length ? new Set(this.info.words) : null;
    this.render();
    this.markUnknown();
  }

  render() {
    const { name, parameters, imageSize, words, exampleQuestions, samples } = this.info;
    const note = $('model-note');
    note.replaceChildren();
    const intro = document.createElement('p');
    intro.textContent = `The model here is ${name} (${(parameters / 1e6).toFixed(1)} M parameters, images seen at ${imageSize} px).`;
    note.append(intro);
    if (words.length) {
      intro.textContent += ` It knows ${words.length} words; any other word reaches it as "unknown".`;
      const list = document.createElement('details');
      const summary = document.createElement('summary');
      summary.textContent = 'The words it knows';
      const all = document.createElement('p');
      all.className = 'model-words';
      all.textContent = words.join(' · ');
      list.append(summary, all);
      note.append(list);
    }
    if (exampleQuestions.length) {
      const head = document.createElement('p');
      head.textContent = 'Questions like those it learned:';
      const chips = document.createElement('div');
      chips.className = 'suggestions';
      for (const q of exampleQuestions) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'chip';
        b.textContent = q;
        b.addEventListener('click', () => this.cb.onQuestion(q));
        chips.appendChild(b);
      }
      note.append(head, chips);
    }
    const head = document.createElement('p');
    head.textContent = 'Start from a scene of its world:';
    const gallery = document.createElement('div');
    gallery.className = 'samples';
    note.append(head, gallery);
    for (let i = 0; i < samples; i++) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'sample';
      b.setAttribute('aria-label', `Sample scene ${i + 1}`);
      const img = document.createElement('img');
      img.src = `/api/model/samples/${i}`;
      img.alt = '';
      img.loading = 'lazy';
      b.appendChild(img);
      b.addEventListener('click', async () => {
        const blob = await (await fetch(img.src)).blob();
        this.cb.onSample(new File([blob], `sample-${i + 1}.png`, { type: 'image/png' }));
      });
      gallery.appendChild(b);
    }
    gallery.appendChild(this.randomSceneButton());
    note.hidden = false;
  }

  /**
   * "New random scene": the server draws a scene of the same world (GET /api/scenes/random, shapes, colours and sizes
   * the model's tokenizer knows) for a seed picked here; it starts the conversation like a sample scene.
   */
  randomSceneButton() {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn random-scene';
    b.id = 'random-scene';
    b.textContent = 'New random scene';
    b.addEventListener('click', async () => {
      const seed = crypto.getRandomValues(new Uint32Array(1))[0] % 2147483647;
      b.disabled = true;
      b.textContent = 'Drawing…';
      try {
        const response = await fetch(`/api/scenes/random?seed=${seed}`);
        if (!response.ok) throw new Error(`The scene could not be drawn (${response.status}).`);
        const blob = await response.blob();
        await this.cb.onSample(new File([blob], `scene-${seed}.png`, { type: 'image/png' }));
      } catch (e) {
        this.cb.onError(e.message);
      } finally {
        b.disabled = false;
        b.textContent = 'New random scene';
      }
    });
    return b;
  }

  /** The message's words the tokenizer does not have, as it splits them (lowercase, punctuation apart). */
  unknownWords(text) {
    if (!this.words) return [];
    const source = this.info.lowercase ? text.toLowerCase() : text;
    const unknown = [];
    for (const word of source.match(/[a-z]+/gi) || []) {
      if (!this.words.has(word) && !unknown.includes(word)) unknown.push(word);
    }
    return unknown;
  }

  markUnknown() {
    const el = $('unknown-words');
    const unknown = this.unknownWords($('composer-text').value);
    el.hidden = unknown.length === 0;
    el.replaceChildren();
    if (!unknown.length) return;
    el.append('The model does not know ');
    unknown.forEach((w, i) => {
      if (i) el.append(', ');
      const mark = document.createElement('mark');
      mark.textContent = w;
      el.append(mark);
    });
    el.append(': it reads them as "unknown".');
  }
}
