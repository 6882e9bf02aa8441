"""Training batch samplers and multi-view samples."""

import torch
from torch.utils.data import TensorDataset

from patchswap.engine.loaders import ShuffledBatchSampler, WithIndex


def test_shuffled_batches_cover_every_index_once_and_reshuffle_per_epoch():
    sampler = ShuffledBatchSampler(50, 8, seed=1)
    first = [i for batch in sampler for i in batch]
    assert sorted(first) == list(range(50)) and len(sampler) == 7
    sampler.set_epoch(1)
    assert [i for batch in sampler for i in batch] != first


def test_shards_split_the_same_permutation_across_processes():
    shards = [
        [i for b in ShuffledBatchSampler(50, 5, seed=2, num_replicas=2, rank=r) for i in b]
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == 25
    assert sorted(shards[0] + shards[1]) == list(range(50))


def test_a_final_single_image_batch_is_dropped():
    sampler = ShuffledBatchSampler(17, 8, seed=0)
    assert [len(b) for b in sampler] == [8, 8]


def test_views_stack_independent_draws_of_the_transform():
    torch.manual_seed(0)
    data = TensorDataset(torch.zeros(4, 3), torch.arange(4))

    class Noisy(torch.utils.data.Dataset):
        def __len__(self):
            return len(data)

        def __getitem__(self, i):
            x, y = data[i]
            return x + torch.randn(3), int(y)

    image, label, index = WithIndex(Noisy(), views=2)[3]
    assert image.shape == (2, 3) and (label, index) == (3, 3)
    assert not torch.equal(image[0], image[1])
