"""The hook module of zoo-kerashub: specs only, no keras_hub or TensorFlow (``zoo list`` imports
it). One backbone per built-in image preset of the installed keras-hub, named like the preset,
plus ``kerashub`` for any local preset directory."""

import zoo
from zoo.weights import ExternalWeights
from zoo_kerashub import catalog

ZOO_CONTRACT = 2

#: The function that brings a built-in preset into kagglehub's cache (keras-hub's own loader).
FETCH = "zoo_kerashub.backbones:fetch"


@zoo.hookimpl
def zoo_backbones():
    specs = [
        zoo.Backbone(preset.name, f"zoo_kerashub.backbones:{preset.name}",
                     summary=_summary(preset), input_size=preset.input_size,
                     weights=(preset.name, "none"), preprocess="none", family=preset.family,
                     weight_files={preset.name: ExternalWeights(preset.handle, FETCH)})
        for preset in catalog.presets().values()
    ]
    specs.append(zoo.Backbone(
        "kerashub", "zoo_kerashub.backbones:from_directory", family="kerashub",
        summary="any KerasHub image backbone preset directory (keras-hub's save_to_preset); "
                "pass --weights DIR", input_size=catalog.DEFAULT_SIZE, weights=(),
        preprocess="none"))
    return specs


def _summary(preset: catalog.Preset) -> str:
    """The description's first sentence, the size, and where the preprocessing comes from (the
    core adds none: the preset's ImageConverter scaling is inside the built model)."""
    sentence = preset.description.split(". ")[0].rstrip(".") or preset.backbone_class
    size = f", {preset.params / 1e6:.1f}M params" if preset.params else ""
    return f"{sentence} (KerasHub{size}, its ImageConverter inside)"
