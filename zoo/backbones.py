"""The built-in plugin: keras.applications backbones, registered through the same hooks as any.

This module must stay light (no TensorFlow): it is imported whenever plugins are listed. Each
backbone's target is ``zoo.applications:<keras.applications constructor>``; the weights are the
published no-top ImageNet files and hashes from the Keras sources, so ``--weights imagenet``
downloads exactly what ``keras.applications`` would (and reuses a copy Keras already has).
"""

import zoo
from zoo.weights import WeightsFile

ZOO_CONTRACT = 2

_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _imagenet(path: str, file_hash: str | None, filename: str | None = None) -> WeightsFile:
    """A no-top file under keras-applications; Keras publishes md5 (32 hex) or sha256 hashes."""
    url = path if path.startswith("https://") else _KERAS_APPS + path
    algorithm = "md5" if file_hash and len(file_hash) == 32 else "sha256"
    return WeightsFile(url, file_hash, algorithm, filename)


# Rows: name, keras.applications constructor, family, input size, preprocess, title,
# imagenet WeightsFile, aliases.
# Preprocess modes follow each module's own preprocess_input: "caffe" (ResNet v1, VGG), "tf"
# (here "scale_-1_1"), "torch" (DenseNet), and "none" where the Keras model normalizes inside
# (EfficientNet, EfficientNetV2, ConvNeXt, MobileNetV3 with include_preprocessing).
def _resnets():
    hashes = {"50": "4d473c1dd8becc155b73f8504c6f6626", "101": "88cf7a10940856eca736dc7b7e228a21",
              "152": "ee4c566cf9a93f14d82f913c2dc6dd0c", "50v2": "fac2f116257151a9d068a22e544a4917",
              "101v2": "c0ed64b8031c3730f411d2eb4eea35b5",
              "152v2": "ed17cf2e0169df9d443503ef94b23b33"}
    for depth, file_hash in hashes.items():
        v2 = depth.endswith("v2")
        layers = depth.removesuffix("v2")
        # Keras spells v2 "resnet50v2": keep that as an alias of "resnet50_v2".
        name, aliases = (f"resnet{layers}_v2", (f"resnet{depth}",)) if v2 else \
            (f"resnet{depth}", ("resnet",) if depth == "50" else ())
        yield (name, f"ResNet{depth.upper()}", "resnet_v2" if v2 else "resnet", 224,
               "scale_-1_1" if v2 else "caffe", f"ResNet-{layers} {'v2' if v2 else 'v1'}",
               _imagenet(f"resnet/resnet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5",
                         file_hash), aliases)


def _efficientnets():
    v1 = {
        "b0": (224, "50bc09e76180e00e4465e1a485ddc09d"),
        "b1": (240, "74c4e6b3e1f6a1eea24c589628592432"),
        "b2": (260, "111f8e2ac8aa800a7a99e3239f7bfb39"),
        "b3": (300, "af6d107764bb5b1abb91932881670226"),
        "b4": (380, "ebc24e6d6c33eaebbd558eafbeedf1ba"),
        "b5": (456, "38879255a25d3c92d5e44e04ae6cec6f"),
        "b6": (528, "9ecce42647a20130c1f39a5d4cb75743"),
        "b7": (600, "cbcfe4450ddf6f3ad90b1b398090fe4a"),
    }
    for variant, (size, file_hash) in v1.items():
        yield (f"efficientnet_{variant}", f"EfficientNet{variant.upper()}", "efficientnet", size,
               "none", f"EfficientNet-{variant.upper()}",
               _imagenet(f"https://storage.googleapis.com/keras-applications/efficientnet{variant}"
                         f"_notop.h5", file_hash), ("efficientnet",) if variant == "b0" else ())
    v2 = {
        "b0": (224, "893217f2bb855e2983157299931e43ff"),
        "b1": (240, "0e80663031ca32d657f9caa404b6ec37"),
        "b2": (260, "1dfe2e7a5d45b6632553a8961ea609eb"),
        "b3": (300, "f6abf7b5849ac99a89b50dd3fd532856"),
        "s": (384, "af0682fb74e8c54910f2d4393339c070"),
        "m": (480, "1b8dc055df72dde80d614482840fe342"),
        "l": (480, "b0b66b5c863aef5b46e8608fe1711615"),
    }
    for variant, (size, file_hash) in v2.items():
        yield (f"efficientnet_v2_{variant}", f"EfficientNetV2{variant.upper()}", "efficientnet_v2",
               size, "none", f"EfficientNetV2-{variant.upper()}",
               _imagenet(f"efficientnet_v2/efficientnetv2-{variant}_notop.h5", file_hash), ())


def _convnexts():
    hashes = {"tiny": "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
              "small": "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab",
              "base": "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45",
              "large": "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd",
              "xlarge": "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"}
    for size, file_hash in hashes.items():
        keras_size = "XLarge" if size == "xlarge" else size.capitalize()
        yield (f"convnext_{size}", f"ConvNeXt{keras_size}", "convnext", 224, "none",
               f"ConvNeXt-{keras_size}",
               _imagenet(f"convnext/convnext_{size}_notop.h5", file_hash), ())


def _densenets():
    hashes = {"121": "30ee3e1110167f948a6b9946edeeb738", "169": "b8c4d4c20dd625c148057b9ff1c1176b",
              "201": "c13680b51ded0fb44dff2d8f86ac8bb1"}
    for depth, file_hash in hashes.items():
        yield (f"densenet{depth}", f"DenseNet{depth}", "densenet", 224, "torch",
               f"DenseNet-{depth}",
               _imagenet(f"densenet/densenet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5",
                         file_hash), ())


_SINGLES = [
    ("mobilenet_v1", "MobileNet", "mobilenet", 224, "scale_-1_1", "MobileNet v1 (alpha 1.0)",
     _imagenet("mobilenet/mobilenet_1_0_224_tf_no_top.h5", None), ()),
    ("mobilenet_v2", "MobileNetV2", "mobilenet", 224, "scale_-1_1", "MobileNet V2 (alpha 1.0)",
     _imagenet("mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
               None), ("mobilenet",)),
    ("mobilenet_v3_small", "MobileNetV3Small", "mobilenet", 224, "none", "MobileNet V3 small",
     _imagenet("mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
               "d3e8ec802a04aa4fc771ee12a9a9b836"), ()),
    ("mobilenet_v3_large", "MobileNetV3Large", "mobilenet", 224, "none", "MobileNet V3 large",
     _imagenet("mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
               "07fb09a5933dd0c8eaafa16978110389"), ()),
    ("xception", "Xception", "xception", 299, "scale_-1_1", "Xception, min 71 px",
     _imagenet("xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
               "b0042744bf5b25fce3cb969f33bebb97"), ()),
    ("inception_v3", "InceptionV3", "inception", 299, "scale_-1_1", "Inception V3, min 75 px",
     _imagenet("inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
               "bcbd6486424b2319ff4ef7d526e38f63"), ()),
    ("inception_resnet_v2", "InceptionResNetV2", "inception", 299, "scale_-1_1",
     "Inception-ResNet V2, min 75 px",
     _imagenet("inception_resnet_v2/"
               "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
               "d19885ff4a710c122648d3b5c3b684e4"), ()),
    # Keras caches the NASNet files under names that differ from the URL's.
    ("nasnet_mobile", "NASNetMobile", "nasnet", 224, "scale_-1_1", "NASNet mobile",
     _imagenet("nasnet/NASNet-mobile-no-top.h5", "1ed92395b5b598bdda52abe5c0dbfd63",
               "nasnet_mobile_no_top.h5"), ()),
    ("nasnet_large", "NASNetLarge", "nasnet", 331, "scale_-1_1", "NASNet large",
     _imagenet("nasnet/NASNet-large-no-top.h5", "d81d89dc07e6e56530c4e77faddd61b5",
               "nasnet_large_no_top.h5"), ()),
    ("vgg16", "VGG16", "vgg", 224, "caffe", "VGG-16",
     _imagenet("vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
               "6d6bbae143d832006294945121d1f1fc"), ()),
    ("vgg19", "VGG19", "vgg", 224, "caffe", "VGG-19",
     _imagenet("vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
               "253f8cb515780f3b799900260a226db6"), ()),
]


def _applications():
    yield from _resnets()
    yield from _SINGLES
    yield from _efficientnets()
    yield from _convnexts()
    yield from _densenets()


@zoo.hookimpl
def zoo_backbones():
    specs = [
        zoo.Backbone(name, f"zoo.applications:{constructor}",
                     summary=f"{title} (keras.applications, {size} px)", aliases=aliases,
                     input_size=size, weights=("imagenet", "none"), preprocess=preprocess,
                     family=family, weight_files={"imagenet": imagenet})
        for name, constructor, family, size, preprocess, title, imagenet, aliases in _applications()
    ]
    specs.append(zoo.Backbone(
        "tfhub", "zoo.backbones_build:tfhub_backbone",
        summary="any TF Hub / SavedModel image feature extractor; "
                "pass --weights tfhub:HANDLE-or-DIR",
        input_size=224, weights=("tfhub",), preprocess="scale_0_1", family="tfhub"))
    return specs


@zoo.hookimpl
def zoo_layers():
    return [
        zoo.Component("preprocess", "zoo.layers:Preprocess",
                      summary="raw RGB 0-255 to a backbone's input range (caffe, torch, ...)"),
        zoo.Component("hub_features", "zoo.layers:HubFeatures",
                      summary="a TF Hub / SavedModel feature extractor as a trainable layer"),
    ]
