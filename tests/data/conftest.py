"""Every data test runs with its own empty cache folder."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(patchswap_cache):
    return patchswap_cache
