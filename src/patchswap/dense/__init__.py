"""Dense tasks (semantic segmentation, detection) for transferring a trained backbone.

Data: `scenes` writes Fashion-MNIST scenes in the Pascal VOC layout, `voc` reads that layout
(real VOC or scenes), `cityscapes` and `rugd` read theirs, `annotations` reads every mask or
XML of a split once when it is built (refusing a bad one in one line; cached), `datasets`
builds a recipe's splits.
Models: `backbone` cuts a classifier of this trainer at its stages and loads a checkpoint into
it, `models` puts DeepLabV3+, PSPNet or SSD on it. Runs: `config` (recipes with `task:`),
`trainer` (the engine's loop for dense batches), `metrics` (mIoU; VOC07 AP).
"""
