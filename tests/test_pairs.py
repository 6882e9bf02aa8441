"""The intra-class pair sampler."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from patchswap import IntraClassPairSampler
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
    import numpy as np

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
