"""Unit tests of the data generator (numpy + PIL only, no torch):  /usr/bin/python3 -m unittest discover models/training"""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conversations import GENERATORS, sample_conversation  # noqa: E402
from tokenizer import WordTokenizer  # noqa: E402
from world import COLORS, MAX_SIDE, MIN_SIDE, SHAPES, SIZES, pole_of_inaccessibility, render_scene  # noqa: E402


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
