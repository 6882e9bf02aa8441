"""Dense tasks (semantic segmentation, detection) for transferring a trained backbone.

`scenes` writes Fashion-MNIST scenes in the Pascal VOC layout, `voc` reads that layout (real VOC
or scenes) with torchvision, `metrics` scores predictions (mIoU; VOC07 AP).
"""
