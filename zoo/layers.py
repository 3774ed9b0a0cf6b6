"""The core's own Keras objects: backbone preprocessing, the TF Hub / SavedModel adapter, and
the ``data_loss`` metric the image tasks monitor.

All are registered under the ``zoo`` package, so a saved ``.keras`` file using them reloads in a
fresh process (``zoo.load_model`` or ``keras.saving.load_model`` after ``import zoo.layers``)
with Keras' ``safe_mode`` left on.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.errors import ZooError
from zoo.specs import PREPROCESS_MODES, import_target

# Per-channel ``x * scale + offset`` in RGB order for each named mode; caffe also flips to BGR.
_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_AFFINE = {
    "scale_0_1": ((1 / 255,) * 3, (0.0,) * 3),
    "scale_-1_1": ((1 / 127.5,) * 3, (-1.0,) * 3),
    "torch": (tuple(1 / (255 * s) for s in _IMAGENET_STD_RGB),
              tuple(-m / s for m, s in zip(_IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB))),
    # Applied after the flip, so in BGR order, like keras.applications' caffe mode.
    "caffe": ((1.0,) * 3, tuple(-m for m in _CAFFE_MEAN_BGR)),
}


@keras.saving.register_keras_serializable(package="zoo")
class Preprocess(keras.layers.Layer):
    """Raw RGB pixels 0-255 in, what a backbone expects out, for every mode a backbone may declare.

    Named modes use only a channel flip, a multiply and an add, which convert to builtin TFLite
    ops. A ``"module:attr"`` mode calls that function (it must take and return a tensor); the
    config keeps the string, so saving and reloading need no Lambda layer.
    """

    def __init__(self, mode: str = "none", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES and ":" not in mode:
            raise ZooError(f"unknown preprocess mode {mode!r}; use one of "
                           f"{', '.join(PREPROCESS_MODES)} or a 'module:attr' function")
        self.mode = mode
        self._function = import_target(mode, what=f"preprocess function {mode!r}") \
            if ":" in mode else None

    def call(self, inputs):
        if self._function is not None:
            return self._function(inputs)
        if self.mode == "none":
            return inputs
        x = ops.flip(inputs, axis=-1) if self.mode == "caffe" else inputs
        scale, offset = _AFFINE[self.mode]
        return x * ops.convert_to_tensor(scale, x.dtype) + ops.convert_to_tensor(offset, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}

    @classmethod
    def from_config(cls, config):
        """Reloading in Keras' safe mode calls only functions an installed backbone declares.

        A ``"module:attr"`` string in a model file could otherwise name any importable callable.
        """
        from keras.src.saving import serialization_lib

        mode = config.get("mode", "none")
        if ":" in mode and serialization_lib.in_safe_mode() is not False:
            import zoo

            if mode not in {spec.preprocess for spec in zoo.list("backbone")}:
                raise ZooError(f"the model's preprocess function {mode!r} is declared by no "
                               f"installed backbone; install the plugin that provides it, or "
                               f"load with safe_mode=False if you trust the file")
        return cls(**config)


@keras.saving.register_keras_serializable(package="zoo")
class HubFeatures(keras.layers.Layer):
    """A TF Hub / TF2 SavedModel image feature extractor as a trainable Keras 3 layer.

    ``hub.KerasLayer`` is a Keras 2 layer and fails inside Keras 3 models; this one loads the
    SavedModel with ``tf.saved_model.load``, calls its ``__call__`` (or its ``serving_default``
    signature), and tracks the variables those functions use as Keras weights that wrap the very
    same ``tf.Variable`` objects, so fine-tuning updates the SavedModel's variables and saving the
    Keras model saves the fine-tuned values. The config holds the local ``saved_model_path``: a
    saved model reloads only where that directory exists (the zoo cache keeps it), and reloading
    runs that SavedModel's graph: trust such a model file as far as the SavedModel it names.

    ``output_key`` picks one output when the SavedModel returns a dict of several.
    """

    def __init__(self, saved_model_path: str, output_key: str | None = None, **kwargs):
        kwargs.setdefault("trainable", True)
        # SavedModels take float32 images whatever the mixed-precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        import tensorflow as tf

        self.saved_model_path = str(saved_model_path)
        self.output_key = output_key
        try:
            self._saved_model = tf.saved_model.load(self.saved_model_path)
        except (OSError, ValueError, tf.errors.OpError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ZooError(f"cannot load the SavedModel in {saved_model_path}: {first}") from None
        self._signature_input = None
        if callable(self._saved_model):
            self._function = self._saved_model.__call__
        elif "serving_default" in self._saved_model.signatures:
            self._function = self._saved_model.signatures["serving_default"]
            self._signature_input = next(iter(self._function.structured_input_signature[1]))
        else:
            raise ZooError(f"the SavedModel in {self.saved_model_path} has neither __call__ nor a "
                           f"serving_default signature; it is not an image feature extractor")
        self.hub_variables = [
            keras.Variable(v, trainable=v.trainable, dtype=v.dtype, shape=v.shape,
                           name=f"{v.name.split(':')[0].replace('/', '_')}_{i}")
            for i, v in enumerate(_variables_used_by(self._function))]
        self._training_values = _training_values(self._function)
        self._feature_shape = None

    def build(self, input_shape):
        """Probe the SavedModel once (in inference mode) for the shape of its features."""
        import tensorflow as tf

        probe = tf.zeros((1, *input_shape[1:]), tf.float32)
        try:
            features = self._invoke(probe, training=False)
        except (TypeError, ValueError, tf.errors.OpError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ZooError(f"the SavedModel in {self.saved_model_path} does not take images of "
                           f"shape {tuple(input_shape[1:])}: {first}") from None
        self._feature_shape = tuple(features.shape[1:])

    def _invoke(self, images, training):
        if self._signature_input is not None:
            outputs = self._function(**{self._signature_input: images})
        elif self._training_values:
            # Pass the mode asked for when the SavedModel was traced for it, else the one it has.
            mode = bool(training) if bool(training) in self._training_values else \
                self._training_values[0]
            outputs = self._function(images, training=mode)
        else:
            outputs = self._function(images)
        return self._pick(outputs)

    def _pick(self, outputs):
        if not isinstance(outputs, dict):
            return outputs
        if self.output_key is not None:
            if self.output_key not in outputs:
                raise ZooError(f"the SavedModel in {self.saved_model_path} has no output "
                               f"{self.output_key!r}; it has {', '.join(sorted(outputs))}")
            return outputs[self.output_key]
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        if "default" in outputs:
            return outputs["default"]
        raise ZooError(f"the SavedModel in {self.saved_model_path} returns "
                       f"{', '.join(sorted(outputs))}; pick one with output_key")

    def call(self, inputs, training=False):
        return self._invoke(ops.cast(inputs, "float32"), training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._feature_shape)

    def get_config(self):
        return {**super().get_config(), "saved_model_path": self.saved_model_path,
                "output_key": self.output_key}


def _variables_used_by(function) -> list:
    """Every variable the (possibly polymorphic) restored function reads, in a stable order."""
    concrete = getattr(function, "concrete_functions", None) or [function]
    seen, found = set(), []
    for fn in concrete:
        for variable in fn.variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append(variable)
    return found


def _training_values(function) -> tuple[bool, ...]:
    """The ``training`` values a restored function was traced for; () if it takes no such flag.

    Read from the traced signatures rather than by calling it: a call in training mode would
    update the SavedModel's batch-norm statistics.
    """
    values = set()
    for fn in getattr(function, "concrete_functions", ()):
        args, kwargs = fn.structured_input_signature
        flag = kwargs.get("training", args[1] if len(args) > 1 else None)
        if isinstance(flag, bool):
            values.add(flag)
        elif flag is not None:  # traced with a bool tensor: takes either value
            values.update((True, False))
    return tuple(sorted(values, reverse=True))


@keras.saving.register_keras_serializable(package="zoo")
class DataLoss(keras.metrics.Mean):
    """The mean of ``loss`` per example, named ``data_loss``: the loss without the model's weight
    penalties, which Keras adds to ``loss`` and ``val_loss`` (resnet20's L2 on every
    convolution). Stage 1 on cached features trains the head alone, without them, so judged by
    ``val_loss`` stage 2 could never beat stage 1."""

    def __init__(self, loss, name: str = "data_loss", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.loss = keras.losses.get(loss) if isinstance(loss, (str, dict)) else loss

    def update_state(self, y_true, y_pred, sample_weight=None):
        # A Loss object reduces over the batch; its call() gives one value per example.
        per_example = self.loss.call if isinstance(self.loss, keras.losses.Loss) else self.loss
        return super().update_state(per_example(y_true, y_pred), sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "loss": keras.losses.serialize(self.loss)}
