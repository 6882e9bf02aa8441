"""The sets of the dense tasks, one reader or generator per file.

- `build`: the entry, `build_dense_data` builds a dense recipe's train and test splits (with
  their joint transforms) from the reader its `data.name` names, and the batch collation;
- `voc`: Pascal VOC segmentation and detection (the real release or Fashion-MNIST scenes);
- `cityscapes`, `rugd`: those sets' segmentation layouts;
- `annotations`: one cached pass over a split's masks or XML, refusing a bad one in one line;
- `scenes`: writes Fashion-MNIST scenes in VOC's layout (`patchswap scenes ROOT`).

This file imports none of them: `dense.config` reads `voc`'s normalisation, and `build` reads
`dense.config`'s data section, so the entry lives in `build`, beside the readers.
"""
