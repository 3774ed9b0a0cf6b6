"""Tiny, randomly initialised presets of each KerasHub image family, written with keras-hub's own
``save_to_preset``: what the plugin's tests fine-tune and export, what
``benchmarks/families.py`` converts to TFLite to say which families keep to builtin ops, and a
way to try the plugin with no network (``zoo finetune kerashub --weights DIR``).

Each is a few thousand to a hundred thousand parameters at 32-64 px: the architecture's layers,
not its size. Imports keras_hub: the hook module never imports this.
"""

from __future__ import annotations

from pathlib import Path

#: family -> (backbone class, constructor arguments without the image shape, the name of the
#: shape argument or None when the class takes none). MobileNetV5 keeps an attention block and
#: its multi-scale fusion adapter, the parts of the real encoder beyond plain convolutions.
TINY = {
    "resnet": ("ResNetBackbone", dict(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block"),
        "image_shape"),
    "mobilenet": ("MobileNetBackbone", dict(
        stackwise_expansion=[[1], [4]], stackwise_num_blocks=[1, 1],
        stackwise_num_filters=[[8], [16]], stackwise_kernel_size=[[3], [3]],
        stackwise_num_strides=[[2], [2]], stackwise_se_ratio=[[0.25], [0.25]],
        stackwise_activation=[["relu"], ["hard_swish"]], stackwise_padding=[[1], [1]],
        output_num_filters=32, depthwise_filters=8, depthwise_stride=2,
        depthwise_residual=False, last_layer_filter=32, squeeze_and_excite=0.5,
        input_num_filters=8), "image_shape"),
    # num_features stays at its default: keras-hub 0.32 does not save it in the config.
    "efficientnet": ("EfficientNetBackbone", dict(
        width_coefficient=1.0, depth_coefficient=1.0, stackwise_kernel_sizes=[3, 3],
        stackwise_num_repeats=[1, 1], stackwise_input_filters=[8, 8],
        stackwise_output_filters=[8, 16], stackwise_expansion_ratios=[1, 4],
        stackwise_squeeze_and_excite_ratios=[0.25, 0.25], stackwise_strides=[1, 2],
        stackwise_block_types=["v1", "v1"], stackwise_force_input_filters=[0, 0],
        stackwise_nores_option=[False, False]), "input_shape"),
    "vit": ("ViTBackbone", dict(patch_size=8, num_layers=1, num_heads=2, hidden_dim=16,
                                mlp_dim=32), "image_shape"),
    "deit": ("DeiTBackbone", dict(patch_size=8, num_layers=1, num_heads=2, hidden_dim=16,
                                  intermediate_dim=32), "image_shape"),
    "densenet": ("DenseNetBackbone", dict(stackwise_num_repeats=[1, 1], growth_rate=8),
                 "image_shape"),
    "vgg": ("VGGBackbone", dict(stackwise_num_repeats=[1, 1], stackwise_num_filters=[8, 16]),
            "image_shape"),
    "xception": ("XceptionBackbone", dict(stackwise_conv_filters=[[8, 8], [16, 16]],
                                          stackwise_pooling=[False, True]), "image_shape"),
    "cspnet": ("CSPNetBackbone", dict(
        stem_filters=8, stem_kernel_size=3, stem_strides=2, stackwise_depth=[1, 1],
        stackwise_strides=[1, 2], stackwise_num_filters=[16, 32], block_type="dark_block",
        stage_type="dark"), "image_shape"),
    "swin_transformer": ("SwinTransformerBackbone", dict(
        embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=4, patch_size=4),
        "image_shape"),
    "mit": ("MiTBackbone", dict(
        layerwise_depths=[1, 1], num_layers=2, layerwise_num_heads=[1, 2],
        layerwise_sr_ratios=[2, 1], max_drop_path_rate=0.0, layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2], hidden_dims=[8, 16]), "image_shape"),
    "hgnetv2": ("HGNetV2Backbone", dict(
        depths=[1, 1], embedding_size=8, hidden_sizes=[16, 32], stem_channels=[3, 8, 8],
        hidden_act="relu", use_learnable_affine_block=False,
        stackwise_stage_filters=[[8, 8, 16, 1, 1, 3], [16, 8, 32, 1, 1, 3]],
        apply_downsample=[False, True], use_lightweight_conv_block=[False, False]),
        "image_shape"),
    "mobilenetv5": ("MobileNetV5Backbone", dict(
        stackwise_block_types=[["er"], ["uir", "mqa"]], stackwise_num_blocks=[1, 2],
        stackwise_num_filters=[[8], [16, 16]], stackwise_strides=[[2], [2, 1]],
        stackwise_act_layers=[["relu"], ["gelu", "gelu"]],
        stackwise_exp_ratios=[[2.0], [2.0, 0.0]], stackwise_se_ratios=[[0.0], [0.0, 0.0]],
        stackwise_dw_kernel_sizes=[[0], [3, 0]], stackwise_dw_start_kernel_sizes=[[0], [0, 0]],
        stackwise_dw_end_kernel_sizes=[[0], [3, 0]], stackwise_exp_kernel_sizes=[[3], [0, 0]],
        stackwise_pw_kernel_sizes=[[1], [0, 0]], stackwise_num_heads=[[0], [0, 2]],
        stackwise_key_dims=[[0], [0, 8]], stackwise_value_dims=[[0], [0, 8]],
        stackwise_kv_strides=[[0], [0, 1]], stackwise_use_cpe=[[False], [False, False]],
        stem_size=8, num_features=32, msfa_output_resolution=4), "image_shape"),
}

#: A torch-style ImageConverter (ImageNet mean and std per channel), as most keras-hub image
#: presets have: scale and offset per channel, so the tests see both reach the model.
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def tiny_backbone(family: str, image_size: int = 32, seed: int = 0):
    """(backbone, image converter) of a tiny ``family`` preset, random weights from ``seed``."""
    import keras
    import keras_hub

    class_name, arguments, shape_argument = TINY[family]
    keras.utils.set_random_seed(seed)
    shape = {shape_argument: (image_size, image_size, 3)} if shape_argument else {}
    backbone = getattr(keras_hub.models, class_name)(**arguments, **shape)
    converter = getattr(keras_hub.layers, class_name.replace("Backbone", "ImageConverter"))(
        image_size=(image_size, image_size), scale=[1 / (255 * s) for s in STD],
        offset=[-m / s for m, s in zip(MEAN, STD)])
    return backbone, converter


def save_tiny_preset(family: str, directory, image_size: int = 32, seed: int = 0,
                     parts=None) -> Path:
    """Write a tiny ``family`` preset (or ``parts``, a :func:`tiny_backbone` pair trained
    further) to ``directory`` with keras-hub's own ``save_to_preset``; returns the directory."""
    backbone, converter = parts or tiny_backbone(family, image_size, seed)
    backbone.save_to_preset(str(directory))
    converter.save_to_preset(str(directory))
    return Path(directory)
