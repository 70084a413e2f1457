"""The object pointer's spatial reasoning on hand-placed boxes (needs torch; skipped where it is not installed):
/usr/bin/python3 -m unittest models/training/test_spatial_pointer.py"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import torch
    from model import ModelConfig, SpatialReasoning
except ImportError:  # CI's data-generator tests run without torch
    torch = None

LEFT, RIGHT, ABOVE, BELOW = range(4)


@unittest.skipIf(torch is None, "needs torch")
class SpatialReasoningTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.c = ModelConfig(hidden=8, object_tokens=5, object_pointer=True, spatial_pointer=True)
        self.s = SpatialReasoning(self.c)
        # five objects on a row (x centres 0.1 .. 0.9); slot 4 is empty
        xs = [0.1, 0.3, 0.5, 0.7, 0.9]
        self.boxes = torch.tensor([[[x - 0.05, 0.45, x + 0.05, 0.55] for x in xs]])
        self.valid = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
        self.key = torch.eye(8)[:5].unsqueeze(0) * 40.0  # slot i's key is the i-th axis
        self.h = torch.zeros(1, 8)

    def scores(self):
        with torch.no_grad():
            return self.s(self.h, self.key, self.boxes, self.valid)[0]

    def test_starts_at_zero(self):
        self.assertTrue(torch.equal(self.scores(), torch.zeros(5)), "a new pointer behaves like the plain one")

    def test_relation_favours_objects_on_the_named_side_of_the_anchor(self):
        with torch.no_grad():
            self.s.anchor.weight.zero_(); self.s.anchor.bias.zero_()
            self.s.anchor.bias[2] = 1.0  # the anchor is slot 2 (x 0.5)
            self.s.relation.bias[LEFT] = 5.0  # "... left of the anchor"
        s = self.scores()
        self.assertGreater(min(s[0], s[1]), 4.0)
        self.assertLess(max(s[2], s[3]), 0.5, "the anchor itself and objects right of it are not left of it")

    def test_above_is_smaller_y(self):
        # image rows grow downward: "above the anchor" means a smaller centre y
        self.boxes = torch.tensor([[[0.45, y - 0.05, 0.55, y + 0.05] for y in (0.1, 0.3, 0.5, 0.7, 0.9)]])
        with torch.no_grad():
            self.s.anchor.bias[2] = 1.0
            self.s.relation.bias[ABOVE] = 5.0
        s = self.scores()
        self.assertGreater(min(s[0], s[1]), 4.0)
        self.assertLess(max(s[2], s[3]), 0.5)

    def test_rank_counts_group_members_before_each_object(self):
        with torch.no_grad():
            self.s.group.weight.zero_(); self.s.group.bias.zero_()
            self.s.group.bias[0] = self.s.group.bias[2] = self.s.group.bias[3] = 1.0  # the group: slots 0, 2, 3
            self.s.rank.bias.view(4, 3)[RIGHT, 1] = 5.0  # "the second ... from the right"
        s = self.scores()
        # members right of slot 2: slot 3 only -> rank 1 from the right; slot 1 has two members right of it
        self.assertEqual(int(s[:4].argmax()), 2)
        self.assertLess(float(s[1]), 1.0)

    def test_empty_slots_count_for_nothing(self):
        with torch.no_grad():
            self.s.group.bias.fill_(50.0)  # everything is a member
            self.s.rank.bias.view(4, 3)[RIGHT, 0] = 5.0  # "the rightmost"
        s = self.scores()
        self.assertEqual(int(s[:4].argmax()), 3, "the empty slot 4 (x 0.9) is not to the right of slot 3")

    def test_gated_terms_reward_group_members_only(self):
        gated = SpatialReasoning(ModelConfig(hidden=8, object_tokens=5, object_pointer=True, spatial_pointer=True,
                                             spatial_gate=True))
        gated.load_state_dict(self.s.state_dict())
        with torch.no_grad():
            for m in (self.s, gated):
                m.group.weight.zero_(); m.group.bias.zero_()
                m.group.bias[1] = 1.0  # the group: slot 1 only (slot 0 is not a member)
                m.group_bias.fill_(-5.0)
                m.anchor.bias[2] = 1.0
                m.relation.bias[LEFT] = 5.0  # "... left of slot 2"
            plain, s = self.s(self.h, self.key, self.boxes, self.valid)[0], gated(self.h, self.key, self.boxes, self.valid)[0]
        self.assertGreater(float(plain[0]), 4.0, "ungated, a non-member left of the anchor gains too")
        self.assertLess(float(s[0]), 0.5)
        self.assertGreater(float(s[1]), 4.0)

