"""Importer tests: fabricate (bin and safetensors) -> import -> the rebuilt model holds exactly the checkpoint's
weights, the ONNX files carry the contract's names, the reference reproduces the committed fixture, the
safetensors reader round-trips and the tokenizer follows the LLaMA tokenizer.json rules.

    /usr/bin/python3 -m unittest discover -s models/import -p 'test_*.py'

Skips without torch (CI's default Python has none). That the exported graphs run in ONNX Runtime and equal the
reference is checked by ParityCheck.java (no onnxruntime for Python here).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import torch
except ImportError:  # CI without torch
    torch = None
try:
    import onnx
except ImportError:
    onnx = None

FIXTURE = os.path.join(HERE, "fixtures", "nextchat-tiny")


@unittest.skipIf(torch is None, "needs torch")
class SafetensorsTest(unittest.TestCase):
    def test_round_trip(self):
        from safetensors_io import SafetensorsFile, read_header, save_file
        g = torch.Generator().manual_seed(1)
        tensors = {"a.f32": torch.randn(3, 5, generator=g), "b.f16": torch.randn(7, generator=g).half(),
                   "c.bf16": torch.randn(2, 2, 3, generator=g).bfloat16(), "d.i64": torch.arange(5)[None],
                   "e.scalar": torch.tensor(2.5)}
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.safetensors")
            save_file(tensors, p, metadata={"format": "pt"})
            base, header = read_header(p)
            self.assertEqual(base % 8, 0)
            self.assertEqual(header["__metadata__"], {"format": "pt"})
            self.assertEqual(header["c.bf16"]["dtype"], "BF16")
            f = SafetensorsFile(p)
            self.assertEqual(sorted(f.keys()), sorted(tensors))
            for k, t in tensors.items():
                got = f.get(k)
                self.assertEqual(got.dtype, t.dtype, k)
                self.assertEqual(tuple(got.shape), tuple(t.shape), k)
                self.assertTrue(torch.equal(got, t), k)


@unittest.skipIf(torch is None, "needs torch")
class QuantizeTest(unittest.TestCase):
    def test_blocks_round_trip(self):
        import numpy as np
        from stream import dequantize_blocks, quantize_blocks
        b = np.random.default_rng(3).normal(size=(72, 40)).astype(np.float32)  # K=72: a padded last block
        for bits in (8, 4):
            q, scales = quantize_blocks(b, bits, 32)
            self.assertEqual(q.shape, (40, 3, 32 * bits // 8))
            self.assertEqual(scales.shape, (120,))
            back = dequantize_blocks(q, scales, bits, 72)
            per_elem = np.repeat(scales.reshape(40, 3), 32, axis=1)[:, :72].T
            self.assertTrue(np.all(np.abs(back - b) <= per_elem / 2 + 1e-6), bits)

    def test_int4_nibble_order(self):
        import numpy as np
        from stream import quantize_blocks
        b = np.zeros((32, 1), np.float32)
        b[0, 0], b[1, 0], b[2, 0] = 7.0, -7.0, 1.0  # scale 1: codes 15, 1, 9, then 8 (zero)
        q, scales = quantize_blocks(b, 4, 32)
        self.assertEqual(float(scales[0]), 1.0)
        self.assertEqual(int(q[0, 0, 0]), 15 | (1 << 4))  # even k in the low nibble
        self.assertEqual(int(q[0, 0, 1]), 9 | (8 << 4))


@unittest.skipIf(torch is None, "needs torch")
class TokenizerTest(unittest.TestCase):
    def setUp(self):
        from llama_tokenizer import LlamaTokenizer
        self.tok = LlamaTokenizer.load(os.path.join(FIXTURE, "bundle", "tokenizer.json"))

    def test_round_trip_and_byte_fallback(self):
        for s in ["where is the dog ?", "Ünïcödé café", "猫と犬", "emoji 🙂 ok", "  two  spaces"]:
            ids = self.tok.encode(s)
            self.assertEqual(ids[0], self.tok.bos)
            self.assertEqual(self.tok.decode(ids), s)
        ids = self.tok.encode("猫", add_bos=False)
        self.assertEqual([self.tok.inv[i] for i in ids][1:], ["<0xE7>", "<0x8C>", "<0xAB>"])

    def test_decode_like_tokenizers(self):
        v = self.tok.vocab
        # a byte run that is not UTF-8 gives one U+FFFD per byte token (tokenizers' ByteFallback decoder)
        self.assertEqual(self.tok.decode([v["<0xE7>"], v["<0x8C>"], v["\u2581the"]], skip_special=False), "\ufffd\ufffd the")
        ids = self.tok.encode("the <at> <boxes>", add_bos=False)
        self.assertEqual(self.tok.decode(ids, skip_special=True), "the")
        self.assertEqual(self.tok.decode(ids, skip_special=False), "the<at><boxes>")

    def test_added_tokens_strip_spaces(self):
        v = self.tok.vocab
        ids = self.tok.encode("Answer: <at> <boxes>.", add_bos=False)
        # the spaces next to <at>/<boxes> vanish; the text after them is a new piece, so "." gets the "▁" prefix
        # (tokenizers' legacy LLaMA normalizer)
        self.assertEqual(ids[-3:], [v["<at>"], v["<boxes>"], v["\u2581."]])
        self.assertEqual(self.tok.encode("Answer:<at><boxes>.", add_bos=False), ids)

    def test_merges_apply_by_rank(self):
        ids = self.tok.encode("the", add_bos=False)
        self.assertEqual(len(ids), 1, [self.tok.inv[i] for i in ids])  # "▁the" is one piece of the tiny vocab


@unittest.skipIf(torch is None, "needs torch")
class ImportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import fabricate_nextchat
        from import_nextchat import import_checkpoint
        torch.set_num_threads(1)
        cls.tmp = tempfile.mkdtemp(prefix="nextchat-test-")
        cls.fab = {}
        for fmt in ("bin", "safetensors"):
            d = os.path.join(cls.tmp, fmt)
            cls.fab[fmt] = fabricate_nextchat.write(d, fmt)
        cls.sam_outside = os.path.join(cls.tmp, "sam-outside")
        fabricate_nextchat.write(cls.sam_outside, "safetensors", sam_in_shards=False, dtype=torch.bfloat16)
        cls.bundle = os.path.join(cls.tmp, "bundle")
        cls.model, cls.manifest = import_checkpoint(os.path.join(cls.tmp, "bin"), cls.bundle, name="t")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_layout(self):
        d = os.path.join(self.tmp, "bin")
        with open(os.path.join(d, "pytorch_model.bin.index.json")) as f:
            index = json.load(f)
        keys = set(index["weight_map"])
        for k in ["model.embed_tokens.weight", "model.layers.1.self_attn.q_proj.weight",
                  "model.layers.0.mlp.gate_proj.weight", "model.layers.0.post_attention_layernorm.weight",
                  "model.norm.weight", "lm_head.weight", "model.mm_projector.0.weight", "model.mm_projector.2.bias",
                  "model.vision_tower.vision_model.embeddings.class_embedding",
                  "model.vision_tower.vision_model.pre_layrnorm.weight",
                  "model.vision_tower.vision_model.encoder.layers.1.self_attn.out_proj.bias",
                  "loc_encoder.0.weight", "loc_encoder.2.weight", "loc_decoder.2.bias", "seg_prompt_mlp.2.weight",
                  "sam.model.image_encoder.blocks.1.attn.rel_pos_h", "sam.model.prompt_encoder.point_embeddings.3.weight",
                  "sam.model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
                  "sam.model.mask_decoder.output_hypernetworks_mlps.3.layers.2.weight",
                  "sam.model.mask_decoder.transformer.layers.1.cross_attn_image_to_token.out_proj.weight"]:
            self.assertIn(k, keys)
        self.assertEqual(sorted(set(index["weight_map"].values())),
                         [f"pytorch_model-0000{i}-of-00003.bin" for i in (1, 2, 3)])
        st = os.path.join(self.tmp, "safetensors")
        self.assertTrue(os.path.exists(os.path.join(st, "model-00003-of-00003.safetensors")))
        self.assertTrue(os.path.exists(os.path.join(st, "model.safetensors.index.json")))
        self.assertTrue(os.path.exists(os.path.join(d, "sam_vit_h_4b8939.pth")))
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["num_hidden_layers"], 2)
        self.assertEqual(cfg["hidden_size"], 64)
        self.assertEqual(cfg["mm_vision_select_layer"], -2)

    def test_weights_are_the_checkpoints(self):
        """The rebuilt model holds the fabricated weights exactly (after the shards' float16)."""
        ref = self.fab["bin"].state_dict()
        got = self.model.state_dict()
        self.assertEqual(set(ref), set(got))
        for k, v in ref.items():
            self.assertTrue(torch.equal(got[k], v.half().float()), k)

    def test_safetensors_and_sam_file_import_the_same(self):
        from import_nextchat import load_model
        st, _ = load_model(os.path.join(self.tmp, "safetensors"))
        for k, v in self.model.state_dict().items():
            self.assertTrue(torch.equal(st.state_dict()[k], v), k)
        outside, ck = load_model(self.sam_outside)
        self.assertIsNotNone(ck.sam_file)
        for k, v in self.model.state_dict().items():
            if k.startswith("sam."):  # from the float32 SAM file
                self.assertTrue(torch.equal(outside.state_dict()[k], self.fab["bin"].state_dict()[k]), k)
            else:
                self.assertTrue(torch.allclose(outside.state_dict()[k], v, atol=0.02, rtol=0.02), k)

    def test_config_read_off_the_weights(self):
        c = self.model.config
        self.assertEqual((c.vision.image_size, c.vision.patch_size, c.vision.num_hidden_layers), (56, 14, 2))
        self.assertEqual((c.sam.image_size, c.sam.depth, c.sam.window_size, c.sam.global_attn_indexes), (128, 2, 4, [1]))
        self.assertEqual(c.mm_depth, 2)

    def test_kv_cache_equals_full_forward(self):
        m = self.model
        with torch.no_grad():
            x = torch.randn(1, 9, m.config.hidden_size)
            full, hfull, _ = m.decode(x, torch.ones(1, 9, dtype=torch.long), torch.arange(9)[None])
            _, _, past = m.decode(x[:, :6], torch.ones(1, 6, dtype=torch.long), torch.arange(6)[None])
            part, hpart, _ = m.decode(x[:, 6:], torch.ones(1, 9, dtype=torch.long), torch.arange(6, 9)[None], past)
        self.assertLess(float((full[:, 6:] - part).abs().max()), 1e-5)
        self.assertLess(float((hfull[:, 6:] - hpart).abs().max()), 1e-5)

    def test_bundle_files_and_names(self):
        man = self.manifest
        self.assertEqual(man["version"].split(".")[0], "3")
        self.assertIsNone(man["files"]["point_head"])
        self.assertIsNone(man["files"]["proposal_head"])
        sp = man["special_tokens"]
        with open(os.path.join(self.bundle, "tokenizer.json"), encoding="utf-8") as f:
            tok = json.load(f)
        added = {a["content"]: a["id"] for a in tok["added_tokens"]}
        for k, t in [("at", "<at>"), ("boxes", "<boxes>"), ("image_patch", "<im_patch>"), ("bos", "<s>"), ("eos", "</s>")]:
            self.assertEqual(sp[k], added[t])
        if onnx is None:
            self.skipTest("no onnx package: names not read back")
        expect = {"vision_encoder.onnx": (["pixel_values"], ["image_embeds"]),
                  "embed_tokens.onnx": (["input_ids"], ["inputs_embeds"]),
                  "box_decoder.onnx": (["hidden_state"], ["box"]), "box_encoder.onnx": (["box"], ["box_embedding"]),
                  "mask_encoder.onnx": (["mask_pixel_values"], ["image_embeddings"]),
                  "mask_decoder.onnx": (["image_embeddings", "box", "hidden_state"], ["mask_logits", "mask_score"])}
        layers = man["dims"]["layers"]
        expect["decoder.onnx"] = (
            ["inputs_embeds", "attention_mask", "position_ids"]
            + [f"past_key_values.{i}.{k}" for i in range(layers) for k in ("key", "value")],
            ["logits", "hidden_states"] + [f"present.{i}.{k}" for i in range(layers) for k in ("key", "value")])
        for f, (ins, outs) in expect.items():
            g = onnx.load(os.path.join(self.bundle, f))
            onnx.checker.check_model(g)
            self.assertEqual([i.name for i in g.graph.input], ins, f)
            self.assertEqual([o.name for o in g.graph.output], outs, f)

    @unittest.skipIf(onnx is None, "needs the onnx package")
    def test_streamed_int4_import(self):
        """--quantize int4 streams every part: weights read one by one land unchanged (Linear weights transposed)
        in the external data, and the decoder's projections and lm_head become MatMulNBits."""
        from import_nextchat import import_checkpoint
        from onnx import numpy_helper
        from stream import dequantize_blocks
        out = os.path.join(self.tmp, "int4")
        import_checkpoint(os.path.join(self.tmp, "safetensors"), out, quantize="int4")
        ref = self.model.state_dict()
        g = onnx.load(os.path.join(out, "vision_encoder.onnx")).graph
        self.assertFalse([n for n in g.node if n.op_type == "Identity"], "initializers were merged")
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        w = ref["model.vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight"].numpy()
        self.assertTrue(any(v.shape == w.T.shape and (v == w.T).all() for v in inits.values()))
        self.assertTrue((inits["v.embeddings.patch_embedding.weight"]
                         == ref["model.vision_tower.vision_model.embeddings.patch_embedding.weight"].numpy()).all())
        dec = onnx.load(os.path.join(out, "decoder.onnx"))
        nbits = [n for n in dec.graph.node if n.op_type == "MatMulNBits"]
        self.assertEqual(len(nbits), 7 * self.model.config.num_hidden_layers + 1)
        self.assertIn("com.microsoft", [o.domain for o in dec.opset_import])
        inits = {t.name: numpy_helper.to_array(t) for t in dec.graph.initializer}
        q_proj = next(n for n in nbits if "q_proj" in n.input[1])  # nodes in order: layer 0 first
        w = ref["model.layers.0.self_attn.q_proj.weight"].numpy()
        back = dequantize_blocks(inits[q_proj.input[1]], inits[q_proj.input[2]], 4, w.shape[1])
        self.assertLess(float(abs(back - w.T).max()), float(abs(w).max()) / 7)
        self.assertTrue(os.path.exists(os.path.join(out, "decoder.onnx.data")))
        # the decoder was exported layer by layer and merged: one graph with the contract's I/O, no part files
        layers = self.model.config.num_hidden_layers
        self.assertEqual([i.name for i in dec.graph.input], ["inputs_embeds", "attention_mask", "position_ids"]
                         + [f"past_key_values.{i}.{k}" for i in range(layers) for k in ("key", "value")])
        self.assertEqual([o.name for o in dec.graph.output], ["logits", "hidden_states"]
                         + [f"present.{i}.{k}" for i in range(layers) for k in ("key", "value")])
        self.assertFalse([f for f in os.listdir(out) if ".part" in f])
        onnx.checker.check_model(os.path.join(out, "decoder.onnx"))

    def test_reference_reproduces_the_fixture(self):
        """The committed fixture is what this code computes (regenerate with make_fixture.py when it changes)."""
        from llama_tokenizer import LlamaTokenizer
        from make_fixture import PROMPTS, SIZES, make_image
        from reference import Reference, rle_row_major
        with open(os.path.join(FIXTURE, "fixture.json")) as f:
            fx = json.load(f)
        ref = Reference(self.model, LlamaTokenizer.load(os.path.join(self.bundle, "tokenizer.json")), self.manifest)
        cases = iter(fx["cases"])
        for k, (w, h) in enumerate(SIZES):
            img = make_image(k, w, h)
            for text, boxes in PROMPTS:
                want = next(cases)
                ans, t = ref.generate(img, text, boxes)
                self.assertEqual(ans.prompt_ids, want["prompt_ids"])
                self.assertEqual(ans.tokens, want["answer_tokens"], (k, text))
                self.assertEqual(len(ans.regions), len(want["regions"]))
                for r, wr in zip(ans.regions, want["regions"]):
                    self.assertLess(max(abs(a - b) for a, b in zip(r.box, wr["box"])), 1e-4)
                    self.assertEqual(rle_row_major(r.mask), wr["mask"]["counts"])
                self.assertLess(max(abs(a - b) for a, b in zip(t["image_embeds"].reshape(-1)[:8].tolist(),
                                                                want["image_embeds_head"])), 1e-4)


if __name__ == "__main__":
    unittest.main()
