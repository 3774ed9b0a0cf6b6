"""The hook module of zoo-cnn: specs only, no TensorFlow (it is imported by ``zoo list``)."""

import zoo

ZOO_CONTRACT = 2

_SMALL = dict(input_size=32, weights=("none",), preprocess="scale_0_1")


@zoo.hookimpl
def zoo_backbones():
    return [
        zoo.Backbone("plain_cnn", "zoo_cnn.backbones:plain_cnn", family="plain_cnn",
                     summary="VGG-style 6-conv CNN with BatchNorm; fastest to train from scratch",
                     **_SMALL),
        zoo.Backbone("resnet20", "zoo_cnn.backbones:resnet20", family="cifar_resnet",
                     summary="CIFAR ResNet-20 (He et al. 2016), 0.27M parameters", **_SMALL),
        zoo.Backbone("resnet56", "zoo_cnn.backbones:resnet56", family="cifar_resnet",
                     summary="CIFAR ResNet-56, 0.85M parameters", **_SMALL),
        zoo.Backbone("se_resnet20", "zoo_cnn.backbones:se_resnet20", family="cifar_resnet",
                     summary="ResNet-20 with squeeze-excite, stochastic depth and blur-pool "
                             "downsampling", **_SMALL),
        zoo.Backbone("wrn_16_4", "zoo_cnn.backbones:wrn_16_4", family="wide_resnet",
                     summary="Wide ResNet 16-4 (Zagoruyko & Komodakis 2016), 2.7M parameters",
                     **_SMALL),
        zoo.Backbone("mobilenet_tiny", "zoo_cnn.backbones:mobilenet_tiny", family="mobilenet",
                     summary="MobileNet-style inverted-residual net with SE for 32-96 px images",
                     **_SMALL),
    ]


@zoo.hookimpl
def zoo_layers():
    return [
        zoo.Component("se_block", "zoo_cnn.layers:SqueezeExcite", aliases=("squeeze_excite",),
                      summary="Squeeze-and-excitation channel gating (Hu et al. 2018)"),
        zoo.Component("residual_block", "zoo_cnn.layers:ResidualBlock",
                      summary="Basic 3x3+3x3 residual block with optional SE, drop path, blur pool"),
        zoo.Component("depthwise_separable_block", "zoo_cnn.layers:DepthwiseSeparableBlock",
                      aliases=("inverted_residual",),
                      summary="MobileNet separable conv; expansion > 1 makes it an inverted residual"),
        zoo.Component("stochastic_depth", "zoo_cnn.layers:StochasticDepth",
                      aliases=("drop_path",),
                      summary="Drops a residual branch per sample while training (Huang et al. 2016)"),
        zoo.Component("blur_pool", "zoo_cnn.layers:BlurPool2D", aliases=("antialiased_downsample",),
                      summary="Anti-aliased downsampling: binomial blur, then stride (Zhang 2019)"),
    ]


@zoo.hookimpl
def zoo_initializers():
    return [
        zoo.Component("scaled_orthogonal", "zoo_cnn.initializers:ScaledOrthogonal",
                      summary="Orthogonal kernel scaled by the gain of the following nonlinearity"),
        zoo.Component("delta_orthogonal", "zoo_cnn.initializers:DeltaOrthogonal",
                      summary="Conv kernel: scaled orthogonal at the centre tap, zeros elsewhere "
                              "(Xiao et al. 2018)"),
    ]
