"""Patch swap in a `LightningModule`: one line in `training_step`, the schedule in a callback.

Needs Lightning (`pip install patchswap[lightning]`)::

    import lightning as L
    from patchswap.integrations.lightning import PatchSwapCallback, ScheduledObjective
    from patchswap import ProgressivePr

    class Classifier(L.LightningModule):
        def __init__(self, net, epochs):
            super().__init__()
            self.net = net
            self.patchswap = ScheduledObjective(ProgressivePr(epochs), grid=4)

        def forward(self, x):
            return self.net(x)  # logits (N, C)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return self.patchswap(self, x, y)  # the whole method

    trainer = L.Trainer(max_epochs=epochs, callbacks=[PatchSwapCallback()])
    trainer.fit(Classifier(net, epochs), loader)

Pairs: each sample's partner is another sample of its class in the same batch
(`in_batch_partners`); under DDP every rank pairs inside its own batch, so no images cross
processes and the gradients are averaged by Lightning's DDP as for any loss. The swap draws from
torch's global RNG unless `generator=` is passed, so `L.seed_everything(seed)` makes a run
reproducible (it seeds every rank alike). A constant `p_r` needs no callback: use
`PatchSwapObjective(p=...)` and leave the schedule out.
"""

from __future__ import annotations

from ..errors import PatchswapError
from . import ScheduledObjective as ScheduledObjective  # re-exported for one import line
from . import find_objectives, missing_extra

try:
    import lightning.pytorch as pl
except ImportError as err:
    raise missing_extra("lightning", "Lightning", "lightning") from err


class PatchSwapCallback(pl.Callback):
    """Steps the `p_r` schedule of every `ScheduledObjective` in the module once per epoch.

    In `on_train_epoch_start` each objective gets `start_epoch(trainer.current_epoch + 1)`, so a
    resumed run continues the schedule where it stopped; `AdaptivePr` reads the previous epoch's
    swapped-pair accuracy, summed over DDP ranks. With `log=True` the module logs `p_r` as
    `<attribute>/p_r` (e.g. `patchswap/p_r`) once per epoch, and `AdaptivePr`'s input as
    `<attribute>/p_r_accuracy`.
    """

    def __init__(self, log: bool = True) -> None:
        super().__init__()
        self.log = log

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Fail before training when there is nothing to schedule (a likely mistake)."""
        if stage == "fit" and not find_objectives(pl_module):
            raise PatchswapError(
                f"PatchSwapCallback found no ScheduledObjective in {type(pl_module).__name__}; "
                f"set one as an attribute, e.g. self.patchswap = ScheduledObjective(schedule)"
            )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Set this epoch's `p_r` before its first step."""
        for name, objective in find_objectives(pl_module).items():
            p = objective.start_epoch(trainer.current_epoch + 1, pl_module.device)
            if self.log:
                pl_module.log(f"{name}/p_r", p, on_step=False, on_epoch=True)
                if objective.last_accuracy is not None:
                    accuracy = objective.last_accuracy
                    pl_module.log(f"{name}/p_r_accuracy", accuracy, on_step=False, on_epoch=True)


# ScheduledObjective is importable from here too; its documented home is patchswap.integrations
__all__ = ["PatchSwapCallback"]
