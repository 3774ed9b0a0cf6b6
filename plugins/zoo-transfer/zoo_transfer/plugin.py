"""Hook implementations of zoo-transfer. Light on purpose: targets are imported only when used."""

import zoo

ZOO_CONTRACT = 2


@zoo.hookimpl
def zoo_heads():
    return [
        zoo.Head("classifier", "zoo_transfer.heads:classifier", task="classification",
                 summary="global pool, dropout, dense softmax: one class per image (default)"),
        zoo.Head("multilabel", "zoo_transfer.heads:multilabel", task="multilabel",
                 summary="global pool, dropout, dense sigmoid: any number of labels per image"),
        zoo.Head("regression", "zoo_transfer.heads:regression", task="regression",
                 summary="global pool, dense linear: real-valued outputs"),
    ]


@zoo.hookimpl
def zoo_layers():
    return [zoo.Component("dense_head", "zoo_transfer.heads:DenseHead",
                          summary="the layer behind every zoo-transfer head")]


@zoo.hookimpl
def zoo_losses():
    return [
        zoo.Component("label_smoothed_crossentropy",
                      "zoo_transfer.losses:LabelSmoothedCrossentropy",
                      aliases=("label_smoothing",),
                      summary="cross-entropy on integer labels with label smoothing"),
        zoo.Component("focal_crossentropy", "zoo_transfer.losses:FocalCrossentropy",
                      aliases=("focal",),
                      summary="focal cross-entropy on integer labels, for hard or rare classes"),
        zoo.Component("standardized_huber", "zoo_transfer.losses:StandardizedHuber",
                      summary="Huber loss on residuals in each target's standard deviations, "
                              "for regression (default of --head regression)"),
    ]
