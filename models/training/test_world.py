"""Unit tests of the data generator (numpy + PIL only, no torch):  /usr/bin/python3 -m unittest discover models/training"""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conversations import GENERATORS, sample_conversation  # noqa: E402
from tokenizer import WordTokenizer  # noqa: E402
from world import COLORS, MAX_SIDE, MIN_SIDE, OTHER_COLORS, SHAPES, SIZES, pole_of_inaccessibility, random_style, \
    render_scene  # noqa: E402


class WorldTest(unittest.TestCase):
    def test_scenes_have_exact_masks_boxes_and_sizes(self):
        rng = np.random.default_rng(3)
        for _ in range(20):
            s = render_scene(rng)
            self.assertTrue(MIN_SIDE <= min(s.width, s.height) and max(s.width, s.height) <= MAX_SIDE)
            self.assertTrue(1 <= len(s.objects) <= 8)
            covered = np.zeros((s.height, s.width), dtype=int)
            for o in s.objects:
                self.assertIn(o.shape, SHAPES)
                self.assertIn(o.color, COLORS)
                self.assertIn(o.size, SIZES)
                ys, xs = np.nonzero(o.mask)
                self.assertEqual(o.box, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
                covered += o.mask
                px, py = pole_of_inaccessibility(o.mask, o.box)
                self.assertTrue(o.mask[int(py), int(px)], "the alignment point lies on the object")
            self.assertLessEqual(covered.max(), 1, "visible masks never overlap")

    def test_visible_pixels_have_the_object_colour(self):
        s = render_scene(np.random.default_rng(5))
        img = np.asarray(s.image).astype(int)
        for o in s.objects:
            mean = img[o.mask].mean(0)
            self.assertLess(np.abs(mean - np.array(COLORS[o.color])).max(), 25)


    def test_restyled_scenes_keep_exact_labels(self):
        """Another program's look (other colour values, outlines, blur, noise) never changes what is where."""
        rng = np.random.default_rng(7)
        for _ in range(10):
            s = render_scene(rng, min_objects=4, style=random_style(rng))
            img = np.asarray(s.image).astype(int)
            covered = np.zeros((s.height, s.width), dtype=int)
            for o in s.objects:
                ys, xs = np.nonzero(o.mask)
                self.assertEqual(o.box, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
                covered += o.mask
                # the object's most common look is one of its colour's variants (outline and blur touch the rim only)
                median = np.median(img[o.mask], axis=0)
                refs = [COLORS[o.color]] + OTHER_COLORS[o.color]
                self.assertLess(min(np.abs(median - np.array(r)).max() for r in refs), 60, o.color)
            self.assertLessEqual(covered.max(), 1)

    def test_the_canonical_look_is_unchanged_without_a_style(self):
        """Evaluation and golden scenes are drawn without a style: a seed still gives the very scene committed in the
        bundle's golden images (seeds of export.py's GOLDEN_CASES), pixel for pixel."""
        from PIL import Image
        golden = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "default", "golden")
        for k, (seed, n_objects) in enumerate([(777_000_001, None), (777_000_002, None), (777_000_003, None)]):
            s = render_scene(np.random.default_rng(seed), n_objects=n_objects)
            committed = np.asarray(Image.open(os.path.join(golden, f"case{k}.png")).convert("RGB"))
            self.assertTrue(np.array_equal(np.asarray(s.image), committed), f"case{k}")


class ConversationTest(unittest.TestCase):
    def test_every_located_object_has_one_trigger_and_slot(self):
        tok = WordTokenizer()
        rng = np.random.default_rng(11)
        for _ in range(200):
            s = render_scene(rng)
            for t in sample_conversation(s, rng):
                ids = tok.encode(t.answer)
                self.assertEqual(ids.count(tok.id("<at>")), len(t.answer_objects), t.answer)
                self.assertEqual(ids.count(tok.id("<boxes>")), len(t.answer_objects))
                self.assertEqual(tok.encode(t.user).count(tok.id("<boxes>")), len(t.user_boxes))
                self.assertNotIn(tok.unk, ids + tok.encode(t.user), "the vocabulary covers the world's language")

    def test_existence_negatives_are_absent_and_counts_are_right(self):
        rng = np.random.default_rng(13)
        for _ in range(100):
            s = render_scene(rng)
            t = GENERATORS["exist"](s, rng)
            color, shape = t.user.split()[-3], t.user.split()[-2]
            present = any(o.color == color and o.shape == shape for o in s.objects)
            self.assertEqual(present, t.info["present"])
            self.assertEqual(t.answer.startswith("yes"), present)
            c = GENERATORS["count"](s, rng)
            self.assertTrue(c.answer.startswith(str(c.info["count"])))


if __name__ == "__main__":
    unittest.main()
