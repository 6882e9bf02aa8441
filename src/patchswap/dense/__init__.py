"""Dense tasks (semantic segmentation, detection) for transferring a trained backbone.

Data (`datasets/`): `build` builds a recipe's splits from its reader, `voc` reads the Pascal
VOC layout (real VOC or scenes), `cityscapes` and `rugd` read theirs, `annotations` reads every
mask or XML of a split once when it is built (refusing a bad one in one line; cached), and
`scenes` writes Fashion-MNIST scenes in the VOC layout (`patchswap scenes`).
Models: `backbone` cuts a classifier of this trainer at its stages and loads a checkpoint into
it; `heads/` puts DeepLabV3+, PSPNet or SSD on it, one file per head, found by name. Runs:
`config` (recipes with `task:`), `trainer` (the engine's loop for dense batches), `metrics`
(mIoU; VOC07 AP).
"""
