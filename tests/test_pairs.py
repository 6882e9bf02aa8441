"""The intra-class pair sampler, in-batch partners and matched (disjoint) pairs."""

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from patchswap import IntraClassPairSampler, MatchedPairSampler, in_batch_partners, matched_pairs
from patchswap.errors import PatchswapError


def labels(n=103, classes=7, seed=0):
    return torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))


def split(batch):
    half = len(batch) // 2
    return batch[:half], batch[half:]


def test_partners_share_label_and_differ():
    y = labels()
    for batch in IntraClassPairSampler(y, batch_size=16):
        anchors, partners = split(batch)
        assert torch.equal(y[anchors], y[partners])
        assert all(a != p for a, p in zip(anchors, partners))


@pytest.mark.parametrize("drop_last", [False, True])
def test_every_anchor_once_per_epoch_and_len(drop_last):
    y = labels()
    sampler = IntraClassPairSampler(y, batch_size=16, drop_last=drop_last)
    batches = list(sampler)
    assert len(batches) == len(sampler) == (103 // 16 if drop_last else 7)
    anchors = [i for b in batches for i in split(b)[0]]
    if drop_last:
        assert len(anchors) == len(set(anchors)) == 96
    else:
        assert sorted(anchors) == list(range(103))


def test_partners_cover_the_whole_class():
    y = torch.tensor([0] * 5 + [1] * 3)
    sampler = IntraClassPairSampler(y, batch_size=8)
    seen = set()
    for epoch in range(60):
        sampler.set_epoch(epoch)
        for batch in sampler:
            anchors, partners = split(batch)
            seen |= {(a, p) for a, p in zip(anchors, partners) if a == 0}
    assert seen == {(0, j) for j in range(1, 5)}


def test_set_epoch_reshuffles_reproducibly():
    y = labels()
    first = IntraClassPairSampler(y, batch_size=16, seed=3)
    second = IntraClassPairSampler(y, batch_size=16, seed=3)
    first.set_epoch(1)
    second.set_epoch(1)
    assert list(first) == list(second)
    second.set_epoch(2)
    assert list(first) != list(second)


def test_no_shuffle_keeps_anchor_order():
    sampler = IntraClassPairSampler([0, 1, 0, 1, 0, 1], batch_size=3, shuffle=False)
    assert [split(b)[0] for b in sampler] == [[0, 1, 2], [3, 4, 5]]


def test_singleton_class_pairs_with_itself_and_warns():
    with pytest.warns(UserWarning, match="single training sample"):
        sampler = IntraClassPairSampler([0, 0, 1, 2, 2], batch_size=5)
    anchors, partners = split(next(iter(sampler)))
    assert partners[anchors.index(2)] == 2  # index 2 is the only sample of class 1


def test_accepts_list_numpy_tensor_and_drives_a_dataloader():
    y = [0, 1, 0, 1, 2, 2]
    for form in (y, np.array(y), torch.tensor(y)):
        sampler = IntraClassPairSampler(form, batch_size=2, seed=1)
        assert len(list(sampler)) == 3
    data = TensorDataset(torch.arange(6.0)[:, None], torch.tensor(y))
    loader = DataLoader(data, batch_sampler=IntraClassPairSampler(y, batch_size=3))
    for x, target in loader:
        assert x.shape == (6, 1) and torch.equal(target[:3], target[3:])


def test_distributed_shards_cover_all_anchors_once():
    y = labels(n=50)
    shards = []
    for rank in range(2):
        sampler = IntraClassPairSampler(y, batch_size=8, num_replicas=2, rank=rank, seed=5)
        shards.append([i for b in sampler for i in split(b)[0]])
    assert len(shards[0]) == len(shards[1]) == 25
    assert sorted(shards[0] + shards[1]) == list(range(50))


@pytest.mark.parametrize(
    "args, message",
    [(([],), "non-empty"), (([0.5, 1.0],), "integers"), (([0, 1], 0), "batch_size=0")],
)
def test_bad_input(args, message):
    with pytest.raises(PatchswapError, match=message):
        IntraClassPairSampler(*args)


def test_string_labels_are_rejected_with_the_first_label():
    with pytest.raises(PatchswapError, match="labels must be integers.*'cat'"):
        IntraClassPairSampler(["cat", "dog", "cat"])


def test_integer_label_dtypes_are_accepted():
    for labels in (np.array([0, 0, 1, 1], dtype=np.int32), torch.tensor([0, 0, 1, 1]).short()):
        assert len(IntraClassPairSampler(labels, batch_size=2)) == 2


# --- in_batch_partners: partners inside an ordinary batch ---------------------------------


def test_in_batch_partners_share_labels_and_differ_where_they_can():
    labels = torch.tensor([3, 1, 3, 3, 7, 1, 0, 3, 1])
    partners, alone = in_batch_partners(labels, torch.Generator().manual_seed(0))
    assert torch.equal(labels[partners], labels)
    assert alone.tolist() == [labels.tolist().count(v) == 1 for v in labels.tolist()]
    assert torch.equal(partners[alone], torch.nonzero(alone).flatten())  # self-paired
    assert (partners[~alone] != torch.nonzero(~alone).flatten()).all()


def test_in_batch_partners_are_uniform_among_the_other_members():
    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    generator = torch.Generator().manual_seed(1)
    counts = torch.zeros(6, 6)
    for _ in range(3000):
        partners, _ = in_batch_partners(labels, generator)
        counts[torch.arange(6), partners] += 1
    shares = counts[:4, :4] / 3000  # class 0: each of the 3 others about 1/3
    off_diagonal = shares[~torch.eye(4, dtype=torch.bool)]
    assert torch.allclose(off_diagonal, torch.full_like(off_diagonal, 1 / 3), atol=0.04)
    assert shares.diagonal().sum() == 0


def test_in_batch_partners_are_reproducible_under_a_generator():
    labels = torch.randint(10, (256,), generator=torch.Generator().manual_seed(2))
    first = in_batch_partners(labels, torch.Generator().manual_seed(5))
    again = in_batch_partners(labels, torch.Generator().manual_seed(5))
    other = in_batch_partners(labels, torch.Generator().manual_seed(6))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize(
    "labels, words",
    [
        (torch.tensor([0.0, 1.0]), "labels has dtype torch.float32"),
        (torch.zeros(2, 2, dtype=torch.long), "labels has shape (2, 2)"),
        ([0, 1], "labels is a list"),
    ],
)
def test_in_batch_partners_bad_labels_are_one_line(labels, words):
    with pytest.raises(PatchswapError) as error:
        in_batch_partners(labels)
    assert words in str(error.value)


# --- matched pairs: disjoint same-class pairs, each image once per epoch ----------------------


def _pairs_of_epoch(sampler):
    anchors, partners = [], []
    for batch in sampler:
        half = len(batch) // 2
        anchors += batch[:half]
        partners += batch[half:]
    return anchors, partners


def test_matched_sampler_forwards_every_image_once_per_epoch_in_same_class_pairs():
    labels = torch.tensor([0] * 7 + [1] * 6 + [2] * 5 + [3] * 2)  # odd classes: 0 and 2
    sampler = MatchedPairSampler(labels, batch_size=6, seed=3)
    anchors, partners = _pairs_of_epoch(sampler)
    used = anchors + partners
    assert set(used) == set(range(len(labels)))  # every image
    assert len(used) == len(labels) + 2  # once, plus one extra per odd class
    assert all(labels[a] == labels[b] and a != b for a, b in zip(anchors, partners))
    assert len(sampler) == math.ceil(sampler.num_pairs / 3) == 4
    assert all(len(batch) <= 6 and len(batch) % 2 == 0 for batch in sampler)


def test_matched_sampler_takes_the_steps_of_hard_label():
    labels = torch.arange(1000) % 10
    assert len(MatchedPairSampler(labels, batch_size=64)) == math.ceil(1000 / 64)


def test_matched_sampler_is_reproducible_by_seed_and_epoch():
    labels = torch.arange(60) % 4
    first, again = MatchedPairSampler(labels, 8, seed=5), MatchedPairSampler(labels, 8, seed=5)
    assert list(first) == list(again)
    first.set_epoch(1)
    assert list(first) != list(again)
    assert list(first) != list(MatchedPairSampler(labels, 8, seed=6))


def test_matched_sampler_shards_are_disjoint_and_complete():
    labels = torch.arange(43) % 3  # 15 + 14 + 14: 22 pairs over 3 ranks, 2 of padding
    whole = MatchedPairSampler(labels, 4, seed=2)
    pairs = set(zip(*(t.tolist() for t in whole.pairs())))
    shards = [_pairs_of_epoch(MatchedPairSampler(labels, 4, 2, 3, rank)) for rank in range(3)]
    seen = [pair for anchors, partners in shards for pair in zip(anchors, partners)]
    assert set(seen) == pairs  # complete
    assert len(seen) - len(pairs) == 3 * math.ceil(whole.num_pairs / 3) - whole.num_pairs == 2
    assert len({len(MatchedPairSampler(labels, 4, 2, 3, r)) for r in range(3)}) == 1


def test_matched_sampler_pairs_a_lone_sample_with_itself():
    anchors, partners = _pairs_of_epoch(MatchedPairSampler(torch.tensor([0, 0, 1]), 2))
    assert sorted(zip(anchors, partners))[-1] == (2, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(batch_size=5), "batch_size=5 must be even with matched pairs"),
        (dict(batch_size=1), "batch_size"),
        (dict(num_replicas=2, rank=2), "rank"),
    ],
)
def test_matched_sampler_bad_input(args, message):
    with pytest.raises(PatchswapError, match=message):
        MatchedPairSampler(torch.arange(8) % 2, **{"batch_size": 4, **args})


def test_matched_pairs_in_a_batch_are_disjoint_and_leave_one_per_odd_class():
    labels = torch.tensor([0, 1, 0, 2, 0, 1, 1, 1, 3])
    anchors, partners, alone = matched_pairs(labels, torch.Generator().manual_seed(0))
    everyone = torch.cat([anchors, partners, alone]).tolist()
    assert sorted(everyone) == list(range(9))  # each index exactly once
    assert torch.equal(labels[anchors], labels[partners]) and not (anchors == partners).any()
    assert sorted(labels[alone].tolist()) == [0, 2, 3]  # odd counts: 3 zeros, one 2, one 3
    again = matched_pairs(labels, torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in zip(again, (anchors, partners, alone)))


def test_matched_sampler_draws_the_odd_ones_classmate_uniformly():
    labels = torch.zeros(3, dtype=torch.int64)  # one pair and an odd one out each epoch
    sampler = MatchedPairSampler(labels, batch_size=4, seed=0)
    after = {0: [], 1: [], 2: []}  # the odd one's mate, as a slot after it in the class
    for epoch in range(600):
        sampler.set_epoch(epoch)
        anchors, partners = sampler.pairs()
        # the same first draws as the sampler's: which image was left over this epoch
        _, _, alone = matched_pairs(labels, torch.Generator().manual_seed(epoch))
        odd = alone.item()
        mate = partners[anchors == odd].item()
        after[odd].append((mate - odd) % 3)
    shares = [sum(a == 1 for a in found) / len(found) for found in after.values() if found]
    assert all(0.4 < share < 0.6 for share in shares), shares  # not 2/3 for the next member
