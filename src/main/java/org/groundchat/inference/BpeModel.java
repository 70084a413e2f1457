package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The {@code model} section of a Hugging Face {@code tokenizer.json} with {@code type: BPE}: turns one pre-tokenized
 * word into ids exactly as the Rust tokenizers crate ({@code models/bpe/model.rs}, {@code word.rs}) does.
 *
 * <p>Why a priority queue: LLaMA-1/2 files have no pre-tokenizer, so a whole prompt segment is one "word"; merging by
 * rescanning all pairs would be quadratic in its length. As in Rust, the queue holds (rank, position) of candidate
 * merges; the lowest rank wins, ties go to the leftmost position, and entries made stale by an earlier merge are
 * skipped when popped.
 */
final class BpeModel {
    private static final int CACHE_LIMIT = 10_000;
    private static final int CACHED_WORD_MAX_CHARS = 256;

    private final Map<String, Integer> vocab = new HashMap<>();
    private final String[] idToToken;
    private final BpeMergeTable merges;
    private final Integer unkId;
    private final boolean byteFallback;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final int[] byteTokenIds = new int[256];
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    BpeModel(JsonNode model) {
        if (!"BPE".equals(model.path("type").asText("BPE"))) {
            throw new InferenceException("tokenizer.json: model.type must be BPE, found '" + model.path("type").asText() + "'");
        }
        // options that change the output in ways this class does not reproduce are refused, not ignored
        if (model.path("dropout").isNumber() && model.path("dropout").asDouble() > 0) {
            throw new InferenceException("tokenizer.json: BPE dropout is random and not supported");
        }
        for (String option : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (!model.path(option).isMissingNode() && !model.path(option).isNull() && !model.path(option).asText().isEmpty()) {
                throw new InferenceException("tokenizer.json: BPE " + option + " is not supported");
            }
        }
        int maxId = -1;
        for (Iterator<Map.Entry<String, JsonNode>> it = model.path("vocab").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            vocab.put(e.getKey(), e.getValue().asInt());
            maxId = Math.max(maxId, e.getValue().asInt());
        }
        if (vocab.isEmpty()) throw new InferenceException("tokenizer.json: the BPE vocabulary is empty");
        idToToken = new String[maxId + 1];
        vocab.forEach((token, id) -> idToToken[id] = token);
        merges = new BpeMergeTable(model.path("merges").size());
        int rank = 0;
        for (JsonNode merge : model.path("merges")) {
            String left, right;
            if (merge.isArray()) { // newer files: ["a", "b"]
                left = merge.get(0).asText();
                right = merge.get(1).asText();
            } else { // older files: "a b"
                String m = merge.asText();
                int space = m.indexOf(' ', 1);
                if (space < 0) throw new InferenceException("tokenizer.json: merge '" + m + "' has no space");
                left = m.substring(0, space);
                right = m.substring(space + 1);
            }
            Integer a = vocab.get(left), b = vocab.get(right), ab = vocab.get(left + right);
            if (a == null || b == null || ab == null) {
                throw new InferenceException("tokenizer.json: merge '" + left + " " + right + "' uses a token outside the vocabulary");
            }
            merges.put(a, b, rank++, ab);
        }
        byteFallback = model.path("byte_fallback").asBoolean(false);
        fuseUnk = model.path("fuse_unk").asBoolean(false);
        ignoreMerges = model.path("ignore_merges").asBoolean(false);
        JsonNode unk = model.path("unk_token");
        unkId = unk.isTextual() ? vocab.get(unk.asText()) : null;
        if (unk.isTextual() && unkId == null) {
            throw new InferenceException("tokenizer.json: unk_token '" + unk.asText() + "' is not in the vocabulary");
        }
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.format("<0x%02X>", b));
            byteTokenIds[b] = id == null ? -1 : id;
        }
    }

    Map<String, Integer> vocab() { return vocab; }

    int maxId() { return idToToken.length - 1; }

    /** The token of an id of the model's vocabulary, or null. */
    String token(int id) { return id >= 0 && id < idToToken.length ? idToToken[id] : null; }

    /** Appends the ids of one pre-tokenized word to {@code out}. */
    void tokenize(String word, BpeIds out) {
        if (word.isEmpty()) return;
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int[] cached = cache.get(word);
        if (cached == null) {
            cached = merge(word);
            if (word.length() < CACHED_WORD_MAX_CHARS) {
                if (cache.size() >= CACHE_LIMIT) cache.clear(); // crude bound; the cache only saves time
                cache.put(word, cached);
            }
        }
        out.addAll(cached);
    }

    /** Rust's {@code BPE::merge_word}: one symbol per character (or its byte tokens, or unk), then the merges. */
    private int[] merge(String word) {
        BpeIds symbols = new BpeIds();
        int pendingUnkChars = 0;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int n = Character.charCount(cp);
            String ch = word.substring(i, i + n);
            i += n;
            Integer id = vocab.get(ch);
            if (id != null) {
                if (pendingUnkChars > 0) {
                    symbols.add(unkId);
                    pendingUnkChars = 0;
                }
                symbols.add(id);
                continue;
            }
            if (byteFallback && addByteTokens(ch, symbols)) {
                // as in Rust, a pending unk is not flushed here: it follows these byte tokens
                continue;
            }
            if (unkId == null) continue; // no unk token: the character is dropped, as in Rust and JS
            if (pendingUnkChars > 0 && !fuseUnk) {
                symbols.add(unkId);
                pendingUnkChars = 0;
            }
            pendingUnkChars += n;
        }
        if (pendingUnkChars > 0) symbols.add(unkId);
        return mergeAll(symbols.toArray());
    }

    /** The character's UTF-8 bytes as {@code <0xNN>} tokens, only if all of them are in the vocabulary. */
    private boolean addByteTokens(String ch, BpeIds symbols) {
        byte[] bytes = ch.getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) if (byteTokenIds[b & 0xff] < 0) return false;
        for (byte b : bytes) symbols.add(byteTokenIds[b & 0xff]);
        return true;
    }

    /**
     * Rust's {@code Word::merge_all}: a doubly linked list of symbols and a min-heap of (rank << 32 | left position),
     * so the lowest rank wins and ties go to the leftmost pair.
     */
    private int[] mergeAll(int[] ids) {
        int n = ids.length;
        if (n < 2) return ids;
        int[] prev = new int[n], next = new int[n];
        boolean[] removed = new boolean[n];
        BpeLongHeap queue = new BpeLongHeap(n);
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        for (int i = 0; i + 1 < n; i++) offer(queue, ids, i, i + 1);
        while (!queue.isEmpty()) {
            long top = queue.poll();
            int rank = (int) (top >>> 32), pos = (int) top;
            if (removed[pos] || next[pos] < 0) continue;
            int right = next[pos];
            long merge = merges.get(ids[pos], ids[right]);
            if (merge < 0 || BpeMergeTable.rank(merge) != rank) continue; // stale: the pair changed since it was queued
            ids[pos] = BpeMergeTable.mergedId(merge);
            removed[right] = true;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0) offer(queue, ids, prev[pos], pos);
            if (next[pos] >= 0) offer(queue, ids, pos, next[pos]);
        }
        BpeIds out = new BpeIds();
        for (int i = 0; i >= 0; i = next[i]) out.add(ids[i]);
        return out.toArray();
    }

    private void offer(BpeLongHeap queue, int[] ids, int left, int right) {
        long merge = merges.get(ids[left], ids[right]);
        if (merge >= 0) queue.add(((long) BpeMergeTable.rank(merge) << 32) | left);
    }
}
