"""Backbones for small images trained from scratch: ``build(input_shape, weights) -> keras.Model``.

Each returns a feature map (the head pools it). Inputs are already preprocessed (``scale_0_1``;
the core adds that layer). ``weights`` is None for random init or a local ``.weights.h5`` file.
"""

from __future__ import annotations

import keras
from keras import layers

from zoo_cnn.layers import BN_MOMENTUM, DepthwiseSeparableBlock, ResidualBlock

WEIGHT_DECAY = 5e-4


def _finish(name, inputs, outputs, weights):
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def _conv_bn_relu(x, filters, name, strides=1, activation="relu", weight_decay=WEIGHT_DECAY):
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                      kernel_initializer="he_normal", kernel_regularizer=regularizer,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation(activation, name=f"{name}_{activation}")(x)


def plain_cnn(input_shape, weights=None, widths=(32, 64, 128)):
    """Two conv-BN-ReLU per stage, 2x2 max-pool between stages: 32 px in, 8x8x128 out.

    No weight decay: with Adam and a 10-epoch cosine schedule it cost accuracy on digits."""
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, filters in enumerate(widths):
        if stage:
            x = layers.MaxPooling2D(name=f"pool{stage}")(x)
        x = _conv_bn_relu(x, filters, f"stage{stage + 1}a", weight_decay=0)
        x = _conv_bn_relu(x, filters, f"stage{stage + 1}b", weight_decay=0)
    return _finish("plain_cnn", inputs, x, weights)


def cifar_resnet(input_shape, weights=None, blocks_per_stage=3, widths=(16, 32, 64),
                 se_ratio=0.0, drop_path=0.0, antialias=False, name="resnet20"):
    """He et al.'s CIFAR ResNet (depth 6n+2): a 3x3 stem and three stages of basic blocks, the
    last two starting with a stride-2 block. ``drop_path`` grows linearly to its value at the
    last block, as in the stochastic-depth paper."""
    inputs = keras.Input(input_shape)
    x = _conv_bn_relu(inputs, widths[0], "stem")
    total = blocks_per_stage * len(widths)
    for stage, filters in enumerate(widths):
        for block in range(blocks_per_stage):
            index = stage * blocks_per_stage + block
            x = ResidualBlock(filters, strides=2 if stage and not block else 1,
                              se_ratio=se_ratio, drop_path=drop_path * (index + 1) / total,
                              antialias=antialias, kernel_regularizer=keras.regularizers.L2(
                                  WEIGHT_DECAY),
                              name=f"stage{stage + 1}_block{block + 1}")(x)
    return _finish(name, inputs, x, weights)


def resnet20(input_shape, weights=None):
    return cifar_resnet(input_shape, weights, blocks_per_stage=3, name="resnet20")


def resnet56(input_shape, weights=None):
    return cifar_resnet(input_shape, weights, blocks_per_stage=9, name="resnet56")


def se_resnet20(input_shape, weights=None):
    return cifar_resnet(input_shape, weights, blocks_per_stage=3, se_ratio=0.25, drop_path=0.1,
                        antialias=True, name="se_resnet20")


def wrn_16_4(input_shape, weights=None):
    """Wide ResNet 16-4: depth 16 (two blocks per stage), widths 16*4, 32*4, 64*4."""
    return cifar_resnet(input_shape, weights, blocks_per_stage=2, widths=(64, 128, 256),
                        name="wrn_16_4")


def mobilenet_tiny(input_shape, weights=None):
    """A MobileNet V2-style net sized for 32-96 px: a stride-1 stem (small images have no pixels
    to spare), inverted residuals with SE, three downsamplings."""
    # (filters, strides, expansion, repeats)
    config = ((16, 1, 1, 1), (24, 2, 4, 2), (40, 2, 4, 2), (80, 2, 4, 2), (96, 1, 4, 1))
    inputs = keras.Input(input_shape)
    x = _conv_bn_relu(inputs, 32, "stem", activation="relu6")
    total = sum(repeats for *_, repeats in config)
    index = 0
    for stage, (filters, strides, expansion, repeats) in enumerate(config):
        for block in range(repeats):
            index += 1
            x = DepthwiseSeparableBlock(filters, strides=strides if not block else 1,
                                        expansion=expansion, se_ratio=0.25 if expansion > 1 else 0,
                                        drop_path=0.1 * index / total,
                                        name=f"stage{stage + 1}_block{block + 1}")(x)
    x = layers.Conv2D(256, 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_bn")(x)
    x = layers.Activation("relu6", name="head_relu6")(x)
    return _finish("mobilenet_tiny", inputs, x, weights)
