"""Recipes that read the data: the image tasks' training defaults, resolved from how many
labelled images and classes a run has.

A folder of tens of images per class is what most people fine-tune on, and the defaults that
suit ImageNet-sized sets fail there: 40 images at batch 32 make 2 optimizer steps an epoch, and
early stopping on 10 validation images ends the head's training before it has learnt
(docs/benchmarks.md, "Few labels"). So every value here is resolved from the data unless the
user gives it, logged in one line, stored in config.json and read back by ``--resume``.

Pure arithmetic on counts: importing this module needs nothing but the standard library.
"""

from __future__ import annotations

import math

#: Batch sizes the recipe picks from, largest first: the largest that still gives
#: :data:`STEPS_PER_PASS` optimizer steps per pass over the training images.
BATCH_SIZES = (32, 16, 8)
STEPS_PER_PASS = 10
#: An epoch is at least this many optimizer steps: a small set is repeated within an epoch, so
#: that epochs (and patience, counted in epochs) mean enough training.
MIN_STEPS = 20
#: Below this many training images a set is small: higher learning rate, more epochs, more
#: patience (the arithmetic of few steps, docs/benchmarks.md).
SMALL_SET = 1000
#: Peak learning rate of stage 1 (and of from-scratch training): small sets, large sets.
LR = {True: 3e-3, False: 1e-3}
#: Small sets train from scratch for 60 epochs with patience 20: with 30 and 10, from-scratch
#: runs on the letters stopped short of what they could learn (plain_cnn 0.73 against 0.79
#: held-out, median of 3 seeds).
EPOCHS = {True: 60, False: 10}
PATIENCE = {True: 20, False: 5}
#: Stage 2 of a fine-tune (the backbone unfrozen after its head has learnt) starts near where it
#: ends: a small set fine-tunes for 30 epochs with patience 10 (docs/benchmarks.md, "Few labels
#: with the defaults").
FINE_TUNE_EPOCHS = {True: 30, False: 10}
FINE_TUNE_PATIENCE = {True: 10, False: 5}
#: Stage 2 (the backbone unfrozen) peaks at this share of stage 1's learning rate: small sets,
#: large sets. A small set's 30 short epochs must move a backbone whose features may suit it
#: poorly (digits 5-9 on a base of 0-4): at a third, resnet20 ended 1.5 points under scratch
#: there, at the full rate level with it (docs/benchmarks.md, "Few labels with the defaults").
#: Large sets keep a third: a tenth left resnet20 several points short on the digits.
FINE_TUNE_LR_SCALE = {True: 1.0, False: 1 / 3}
#: Stage 1 on cached features costs little per epoch: it trains until the validation loss stops
#: falling for HEAD_PATIENCE epochs, up to HEAD_EPOCHS.
HEAD_EPOCHS = 100
HEAD_PATIENCE = 20
#: A validation split holds out this fraction of each class, and at least
#: :data:`MIN_VAL_PER_CLASS` images of a class that has twice as many.
VAL_SPLIT = 0.2
MIN_VAL_PER_CLASS = 2


def batch_size(train_images: int) -> int:
    """The largest of :data:`BATCH_SIZES` that gives :data:`STEPS_PER_PASS` steps per pass."""
    return next((b for b in BATCH_SIZES if train_images >= b * STEPS_PER_PASS), BATCH_SIZES[-1])


def repeats(train_images: int, global_batch: int, min_steps: int) -> int:
    """How many passes over the training images make an epoch of at least ``min_steps``
    steps (1 for a set that already has them)."""
    return max(1, math.ceil(min_steps * global_batch / max(1, train_images)))


def steps_per_epoch(train_images: int, global_batch: int, repeat: int) -> int:
    return max(1, math.ceil(train_images * repeat / global_batch))


def image_defaults(train_images: int, pretrained: bool) -> dict:
    """The data-dependent defaults of ``zoo finetune`` and ``zoo train`` for an image set of
    ``train_images`` training images (the validation images already held out). ``pretrained``:
    a frozen stage on cached features, then ``epochs`` and ``patience`` are stage 2's."""
    small = train_images < SMALL_SET
    epochs, patience = (FINE_TUNE_EPOCHS, FINE_TUNE_PATIENCE) if pretrained else (EPOCHS, PATIENCE)
    defaults = {"batch_size": batch_size(train_images), "lr": LR[small], "epochs": epochs[small],
                "patience": patience[small], "min_steps": MIN_STEPS}
    if pretrained:
        defaults["head_epochs"] = HEAD_EPOCHS
    return defaults


def fine_tune_lr(lr: float, train_images: int) -> float:
    """Stage 2's peak learning rate for stage 1's ``lr`` (given or resolved)."""
    return lr * FINE_TUNE_LR_SCALE[train_images < SMALL_SET]


def val_count(class_images: int, fraction: float) -> int:
    """Images of a class held out for validation: ``fraction`` of them, at least
    :data:`MIN_VAL_PER_CLASS` when the class keeps as many for training, never all."""
    if fraction <= 0 or class_images < 2:
        return 0
    wanted = max(round(class_images * fraction), 1)
    if class_images >= 2 * MIN_VAL_PER_CLASS:
        wanted = max(wanted, MIN_VAL_PER_CLASS)
    return min(wanted, class_images - 1)


#: ``zoo pretrain``: a batch of at most PRETRAIN_BATCH[1] images (fewer for a small set: at least
#: PRETRAIN_STEPS_PER_PASS steps per pass), then about PRETRAIN_STEPS optimizer steps in all, in
#: PRETRAIN_EPOCHS epochs at least and at most. SimCLR's negatives are the rest of the batch, but
#: in a budget of minutes the number of steps counts for more than the negatives: on the letters'
#: capitals (7,852 images, 10 epochs, the same images seen) batch 64 against 256 gave held-out
#: k-NN 0.81 against 0.62 and a frozen 10-label stage 0.68-0.69 against 0.51-0.53.
PRETRAIN_BATCH = (32, 64)
PRETRAIN_STEPS_PER_PASS = 8
PRETRAIN_STEPS = 1200
PRETRAIN_EPOCHS = (10, 100)


def pretrain_defaults(train_images: int) -> dict:
    """The data-dependent defaults of ``zoo pretrain`` for ``train_images`` images."""
    low, high = PRETRAIN_BATCH
    batch = high
    while batch > low and train_images < batch * PRETRAIN_STEPS_PER_PASS:
        batch //= 2
    steps = max(1, train_images // batch)  # full batches only
    low, high = PRETRAIN_EPOCHS
    return {"batch_size": batch, "epochs": min(high, max(low, math.ceil(PRETRAIN_STEPS / steps)))}
