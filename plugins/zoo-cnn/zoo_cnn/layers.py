"""Keras layers of zoo-cnn. Every layer is serializable (package ``zoo_cnn``) and mixed-precision
safe: sublayers share the block's dtype policy, and fixed tensors are cast to the compute dtype.

All ops lower to TFLite builtins (conv, depthwise conv, mean, mul, add, mirror pad).
"""

from __future__ import annotations

import math

import numpy as np
import keras
from keras import layers, ops

#: BatchNorm momentum for training from scratch: Keras' 0.99 leaves the moving statistics far
#: from the batch statistics after a few short epochs, and validation sits at chance.
BN_MOMENTUM = 0.9

_register = keras.saving.register_keras_serializable(package="zoo_cnn")


def _batch_norm(layer, name):
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=1e-5, name=name,
                                     dtype=layer.dtype_policy)


def _conv(layer, filters, kernel_size, strides, name, initializer="he_normal"):
    return layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                         kernel_initializer=initializer,
                         kernel_regularizer=keras.regularizers.get(layer.kernel_regularizer),
                         name=name, dtype=layer.dtype_policy)


@_register
class SqueezeExcite(layers.Layer):
    """Channel gating: global average -> bottleneck dense -> sigmoid -> scale the input.

    ``ratio`` is the bottleneck width relative to the input channels (0.25 keeps a quarter);
    ``min_units`` keeps narrow layers from a one-unit bottleneck.
    """

    def __init__(self, ratio=0.25, min_units=8, **kwargs):
        super().__init__(**kwargs)
        if not 0 < ratio <= 1:
            raise ValueError(f"SqueezeExcite ratio must be in (0, 1], got {ratio}")
        self.ratio = ratio
        self.min_units = min_units

    def build(self, input_shape):
        channels = input_shape[-1]
        units = max(self.min_units, int(channels * self.ratio))
        self.reduce = layers.Dense(units, activation="relu", name="reduce",
                                   dtype=self.dtype_policy)
        self.expand = layers.Dense(channels, activation="sigmoid", name="expand",
                                   dtype=self.dtype_policy)
        self.reduce.build((input_shape[0], channels))
        self.expand.build((input_shape[0], units))

    def call(self, inputs):
        squeezed = ops.mean(inputs, axis=(1, 2), keepdims=True)
        return inputs * self.expand(self.reduce(squeezed))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio, "min_units": self.min_units}


@_register
class StochasticDepth(layers.Layer):
    """Drop path: while training, zero a residual branch for a random ``rate`` of the samples and
    scale the rest by ``1 / (1 - rate)``; the identity at inference (so nothing to export)."""

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"StochasticDepth rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        return inputs * ops.floor(keep + noise) / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@_register
class BlurPool2D(layers.Layer):
    """Anti-aliased downsampling (Zhang 2019): a fixed binomial low-pass filter per channel with
    reflect padding, applied with ``strides``, so shifting the input shifts the features smoothly.

    The filter is a constant, not a weight: nothing to train or save.
    """

    def __init__(self, filter_size=3, strides=2, **kwargs):
        super().__init__(**kwargs)
        if filter_size not in (2, 3, 4, 5):
            raise ValueError(f"BlurPool2D filter_size must be 2-5, got {filter_size}")
        self.filter_size = filter_size
        self.strides = strides

    def build(self, input_shape):
        taps = np.array([math.comb(self.filter_size - 1, k) for k in range(self.filter_size)],
                        dtype="float32")
        grid = np.outer(taps, taps)
        grid /= grid.sum()
        channels = input_shape[-1]
        self._kernel = np.tile(grid[:, :, None, None], (1, 1, channels, 1))

    def call(self, inputs):
        before = (self.filter_size - 1) // 2
        after = self.filter_size - 1 - before
        padded = ops.pad(inputs, [[0, 0], [before, after], [before, after], [0, 0]],
                         mode="reflect")
        kernel = ops.cast(self._kernel, inputs.dtype)
        return ops.depthwise_conv(padded, kernel, strides=self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        def down(size):
            return None if size is None else -(-size // self.strides)
        return (input_shape[0], down(input_shape[1]), down(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "filter_size": self.filter_size, "strides": self.strides}


class _ConvBlock(layers.Layer):
    """What the conv blocks share: output channels, stride, SE ratio, drop-path rate and the
    kernel regularizer (kept serialized, so get_config stays plain JSON)."""

    def __init__(self, filters, strides, se_ratio, drop_path, kernel_regularizer, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.strides = strides
        self.se_ratio = se_ratio
        self.drop_path = drop_path
        self.kernel_regularizer = keras.regularizers.serialize(
            keras.regularizers.get(kernel_regularizer))

    def compute_output_shape(self, input_shape):
        def down(size):
            return None if size is None else -(-size // self.strides)
        return (input_shape[0], down(input_shape[1]), down(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "se_ratio": self.se_ratio, "drop_path": self.drop_path,
                "kernel_regularizer": self.kernel_regularizer}


@_register
class ResidualBlock(_ConvBlock):
    """The basic ResNet block: conv3x3-BN-ReLU-conv3x3-BN (+SE) (+drop path) + shortcut, ReLU.

    The shortcut is the identity, or a 1x1 conv + BN when the shape changes. With ``antialias``
    a strided block blurs before subsampling (BlurPool2D) in both paths instead of striding.
    """

    def __init__(self, filters, strides=1, se_ratio=0.0, drop_path=0.0, antialias=False,
                 kernel_regularizer=None, **kwargs):
        super().__init__(filters, strides, se_ratio, drop_path, kernel_regularizer, **kwargs)
        self.antialias = antialias

    def build(self, input_shape):
        downsample = self.strides > 1
        blur = downsample and self.antialias
        conv_strides = 1 if blur else self.strides
        self.blur = BlurPool2D(strides=self.strides, name="blur",
                               dtype=self.dtype_policy) if blur else None
        self.conv1 = _conv(self, self.filters, 3, conv_strides, "conv1")
        self.bn1 = _batch_norm(self, "bn1")
        self.conv2 = _conv(self, self.filters, 3, 1, "conv2")
        self.bn2 = _batch_norm(self, "bn2")
        self.se = SqueezeExcite(self.se_ratio, name="se", dtype=self.dtype_policy) \
            if self.se_ratio else None
        self.dropper = StochasticDepth(self.drop_path, name="drop_path",
                                       dtype=self.dtype_policy) if self.drop_path else None
        needs_projection = downsample or input_shape[-1] != self.filters
        self.project = _conv(self, self.filters, 1, conv_strides, "project") \
            if needs_projection else None
        self.project_bn = _batch_norm(self, "project_bn") if needs_projection else None

        shape = tuple(input_shape)
        if blur:
            self.blur.build(shape)
            conv1_in = self.blur.compute_output_shape(shape)
        else:
            conv1_in = shape
        self.conv1.build(conv1_in)
        out = self.conv1.compute_output_shape(conv1_in)
        for layer in (self.bn1, self.conv2, self.bn2, self.se, self.dropper):
            if layer is not None:
                layer.build(out)
        if needs_projection:
            self.project.build(conv1_in)
            self.project_bn.build(out)

    def call(self, inputs, training=False):
        x = self.blur(inputs) if self.blur is not None else inputs
        shortcut = x
        x = ops.relu(self.bn1(self.conv1(x), training=training))
        x = self.bn2(self.conv2(x), training=training)
        if self.se is not None:
            x = self.se(x)
        if self.dropper is not None:
            x = self.dropper(x, training=training)
        if self.project is not None:
            shortcut = self.project_bn(self.project(shortcut), training=training)
        return ops.relu(x + shortcut)

    def get_config(self):
        return {**super().get_config(), "antialias": self.antialias}


@_register
class DepthwiseSeparableBlock(_ConvBlock):
    """MobileNet's building block.

    ``expansion == 1``: depthwise 3x3-BN-ReLU6, pointwise 1x1-BN-ReLU6 (MobileNet V1).
    ``expansion > 1``: 1x1 expand-BN-ReLU6, depthwise 3x3-BN-ReLU6, optional SE, linear 1x1
    projection-BN, plus the input when the shape is kept (MobileNet V2 inverted residual), where
    ``drop_path`` applies.
    """

    def __init__(self, filters, strides=1, expansion=1, se_ratio=0.0, drop_path=0.0,
                 kernel_regularizer=None, **kwargs):
        super().__init__(filters, strides, se_ratio, drop_path, kernel_regularizer, **kwargs)
        self.expansion = expansion

    def build(self, input_shape):
        channels = input_shape[-1]
        inverted = self.expansion > 1
        self.residual = inverted and self.strides == 1 and channels == self.filters
        hidden = channels * self.expansion
        self.expand = _conv(self, hidden, 1, 1, "expand") if inverted else None
        self.expand_bn = _batch_norm(self, "expand_bn") if inverted else None
        self.depthwise = layers.DepthwiseConv2D(3, strides=self.strides, padding="same",
                                                use_bias=False, name="depthwise",
                                                dtype=self.dtype_policy)
        self.depthwise_bn = _batch_norm(self, "depthwise_bn")
        self.se = SqueezeExcite(self.se_ratio, name="se", dtype=self.dtype_policy) \
            if self.se_ratio else None
        self.pointwise = _conv(self, self.filters, 1, 1, "pointwise")
        self.pointwise_bn = _batch_norm(self, "pointwise_bn")
        self.dropper = StochasticDepth(self.drop_path, name="drop_path",
                                       dtype=self.dtype_policy) \
            if self.drop_path and self.residual else None

        shape = tuple(input_shape)
        if inverted:
            self.expand.build(shape)
            shape = self.expand.compute_output_shape(shape)
            self.expand_bn.build(shape)
        self.depthwise.build(shape)
        shape = self.depthwise.compute_output_shape(shape)
        self.depthwise_bn.build(shape)
        if self.se is not None:
            self.se.build(shape)
        self.pointwise.build(shape)
        shape = self.pointwise.compute_output_shape(shape)
        self.pointwise_bn.build(shape)
        if self.dropper is not None:
            self.dropper.build(shape)

    def call(self, inputs, training=False):
        x = inputs
        if self.expand is not None:
            x = ops.relu6(self.expand_bn(self.expand(x), training=training))
        x = ops.relu6(self.depthwise_bn(self.depthwise(x), training=training))
        if self.se is not None:
            x = self.se(x)
        x = self.pointwise_bn(self.pointwise(x), training=training)
        if self.expand is None:
            return ops.relu6(x)  # V1: the pointwise conv is followed by its nonlinearity
        if not self.residual:
            return x  # V2: linear bottleneck
        if self.dropper is not None:
            x = self.dropper(x, training=training)
        return inputs + x

    def get_config(self):
        return {**super().get_config(), "expansion": self.expansion}
