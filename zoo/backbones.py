"""The built-in plugin: keras.applications backbones, registered through the same hook as any plugin.

This module must stay light (no TensorFlow): it is imported whenever plugins are listed.
"""

import zoo

ZOO_CONTRACT = 1


@zoo.hookimpl
def zoo_backbones():
    return [
        zoo.Backbone("resnet50", "zoo.applications:resnet50", summary="ResNet-50 v1 (keras.applications)",
                     aliases=("resnet",), input_size=224, weights=("imagenet", "none"),
                     preprocess="caffe", family="resnet"),
        zoo.Backbone("mobilenet_v2", "zoo.applications:mobilenet_v2",
                     summary="MobileNet V2 (keras.applications)", aliases=("mobilenet",),
                     input_size=224, weights=("imagenet", "none"), preprocess="scale_-1_1",
                     family="mobilenet"),
    ]
