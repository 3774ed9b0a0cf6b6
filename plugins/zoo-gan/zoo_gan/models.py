"""DCGAN-style generator and discriminator, and the GAN model whose ``train_step`` plays them
against each other.

Both networks speak raw pixels: the generator ends in a rescaling to 0-255 and the discriminator
starts with one back to [-1, 1], so generated images, real images from a folder and exported
generators all use the same units as the rest of the zoo.

Three losses share the networks: ``bce`` (DCGAN, non-saturating), the same with a class label
(``cgan``: label embedding into the generator, projection discriminator), and ``wgan_gp``
(Wasserstein critic with a gradient penalty). The discriminator has no BatchNorm: the gradient
penalty forbids it, and for the other losses it made the discriminator judge real and fake
batches by their batch statistics; without it cgan on digits reached the same quality in about
half the epochs.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from zoo import ZooError

LOSSES = ("bce", "wgan_gp")


def _check_size(image_size: int) -> int:
    ups = int(math.log2(image_size / 4)) if image_size >= 8 else -1
    if ups < 1 or 4 * 2 ** ups != image_size:
        raise ZooError(f"GAN image size must be a power of two from 8 up (16, 32, 64), "
                       f"got {image_size}; pass --image-size 32")
    return ups


def build_generator(image_size: int = 32, channels: int = 1, latent_dim: int = 64,
                    num_classes: int = 0, width: int = 64, name: str = "generator") -> keras.Model:
    """Latent vector (and class index when ``num_classes``) -> image in 0-255."""
    ups = _check_size(image_size)
    latent = keras.Input((latent_dim,), name="latent")
    inputs, x = [latent], latent
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        x = layers.Concatenate()([latent, layers.Embedding(num_classes, 16)(label)])
    top = width * 2 ** (ups - 1)
    x = layers.Dense(4 * 4 * top, use_bias=False)(x)
    x = layers.Reshape((4, 4, top))(x)
    x = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))
    for i in range(ups - 1):
        x = layers.Conv2DTranspose(top // 2 ** (i + 1), 4, strides=2, padding="same",
                                   use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh")(x)
    image = layers.Rescaling(127.5, offset=127.5, name="pixels")(x)
    return keras.Model(inputs if num_classes else latent, image, name=name)


def build_discriminator(image_size: int = 32, channels: int = 1, num_classes: int = 0,
                        width: int = 64, name: str = "discriminator") -> keras.Model:
    """Image in 0-255 (and class index) -> one real/fake logit (a critic score for WGAN-GP).

    Conditioning is a projection (Miyato & Koyama 2018): logit = w.h + embed(y).h.
    """
    ups = _check_size(image_size)
    image = keras.Input((image_size, image_size, channels), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(image)
    for i in range(ups):
        x = layers.Conv2D(width * 2 ** i // 2, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    features = layers.Flatten()(x)
    logit = layers.Dense(1)(features)
    if not num_classes:
        return keras.Model(image, logit, name=name)
    label = keras.Input((), dtype="int32", name="label")
    class_vector = layers.Embedding(num_classes, features.shape[-1])(label)
    logit = layers.Add()([logit, layers.Dot(axes=1)([features, class_vector])])
    return keras.Model([image, label], logit, name=name)


@keras.saving.register_keras_serializable(package="zoo_gan")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other by :meth:`train_step`.

    ``fit`` takes batches of ``(images, labels)``; labels are ignored unless ``num_classes``.
    Calling the model generates: ``gan(latent)`` or ``gan([latent, labels])``.
    """

    def __init__(self, generator, discriminator, latent_dim: int, num_classes: int = 0,
                 loss: str = "bce", gp_weight: float = 10.0, critic_steps: int = 1, **kwargs):
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ZooError(f"unknown GAN loss {loss!r}; choose one of {', '.join(LOSSES)}")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.gan_loss = loss
        self.gp_weight = gp_weight
        self.critic_steps = critic_steps
        self.g_optimizer = None
        self.d_optimizer = None
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True  # both networks are built functional models

    # -- building blocks --------------------------------------------------------------------
    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def compile(self, g_optimizer=None, d_optimizer=None, learning_rate: float = 2e-4, **kwargs):
        """Two optimizers (the usual Adam settings for each loss unless given).

        Both are built here, so a checkpoint's optimizer state loads into the same variables on
        resume; the generator's is also ``self.optimizer``, which the shared loop reports.
        """
        beta_1, beta_2 = (0.5, 0.999) if self.gan_loss == "bce" else (0.0, 0.9)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(learning_rate, beta_1, beta_2)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(learning_rate, beta_1, beta_2)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.learning_rate = learning_rate
        super().compile(optimizer=self.g_optimizer, **kwargs)

    def get_compile_config(self):
        return {"learning_rate": self.learning_rate}

    def compile_from_config(self, config):
        self.compile(**config)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def _inputs(self, latent, labels):
        return [latent, labels] if self.num_classes else latent

    def _judge(self, images, labels, training=True):
        return self.discriminator([images, labels] if self.num_classes else images,
                                  training=training)

    # -- one adversarial step ---------------------------------------------------------------
    def train_step(self, data):
        real, labels = data if isinstance(data, tuple) else (data, None)
        batch = tf.shape(real)[0]
        if labels is None:
            labels = tf.zeros((batch,), "int32")
        labels = tf.cast(tf.reshape(labels, (-1,)), "int32")
        real = tf.cast(real, "float32")
        for _ in range(self.critic_steps):
            d_loss = self._discriminator_step(real, labels, batch)
        g_loss = self._generator_step(labels, batch)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def _discriminator_step(self, real, labels, batch):
        latent = tf.random.normal((batch, self.latent_dim))
        fake = self.generator(self._inputs(latent, labels), training=True)
        with tf.GradientTape() as tape:
            real_logit = self._judge(real, labels)
            fake_logit = self._judge(fake, labels)
            if self.gan_loss == "bce":
                loss = (_bce(tf.ones_like(real_logit), real_logit)
                        + _bce(tf.zeros_like(fake_logit), fake_logit))
            else:
                loss = (tf.reduce_mean(fake_logit) - tf.reduce_mean(real_logit)
                        + self.gp_weight * self._gradient_penalty(real, fake, labels, batch))
        weights = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    def _gradient_penalty(self, real, fake, labels, batch):
        """Push the critic's gradient norm towards 1 on points between real and fake images."""
        mix = tf.random.uniform((batch, 1, 1, 1))
        between = real + mix * (fake - real)
        with tf.GradientTape() as tape:
            tape.watch(between)
            score = self._judge(between, labels)
        # Pixels are 0-255; measure the gradient in the critic's [-1, 1] units.
        grads = tape.gradient(score, between) * 127.5
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        return tf.reduce_mean(tf.square(norm - 1.0))

    def _generator_step(self, labels, batch):
        latent = tf.random.normal((batch, self.latent_dim))
        with tf.GradientTape() as tape:
            fake = self.generator(self._inputs(latent, labels), training=True)
            fake_logit = self._judge(fake, labels)
            if self.gan_loss == "bce":
                loss = _bce(tf.ones_like(fake_logit), fake_logit)
            else:
                loss = -tf.reduce_mean(fake_logit)
        weights = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    # -- serialization ------------------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(),
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "latent_dim": self.latent_dim, "num_classes": self.num_classes,
                "loss": self.gan_loss, "gp_weight": self.gp_weight,
                "critic_steps": self.critic_steps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _bce(target, logit):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logit))


def generator_num_classes(generator) -> int:
    """How many classes a generator is conditioned on (0 when unconditional)."""
    if len(generator.inputs) < 2:
        return 0
    embedding = next(l for l in generator.layers if isinstance(l, layers.Embedding))
    return embedding.input_dim


def sample(generator, n: int, labels=None, seed: int | None = None, batch_size: int = 256):
    """``n`` uint8 images from a generator; ``labels`` (int array) for a conditional one.

    Without labels a conditional generator cycles through its classes, so samples cover them all.
    """
    import numpy as np

    latent_dim = generator.inputs[0].shape[-1]
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, latent_dim)).astype("float32")
    num_classes = generator_num_classes(generator)
    if num_classes:
        labels = np.arange(n) % num_classes if labels is None else np.broadcast_to(labels, (n,))
        inputs = [latent, np.asarray(labels, "int32")]
    else:
        inputs = latent
    images = generator.predict(inputs, batch_size=batch_size, verbose=0)
    return np.clip(np.rint(images), 0, 255).astype("uint8")


def build(variant: str = "dcgan", image_size: int = 32, channels: int = 1, latent_dim: int = 64,
          num_classes: int = 0, width: int = 32, critic_steps: int | None = None) -> GAN:
    """A GAN of one of the registered variants, ready to ``compile()`` and ``fit``."""
    loss = "wgan_gp" if variant == "wgan_gp" else "bce"
    if variant == "cgan" and num_classes < 2:
        raise ZooError("cgan needs labelled data with at least 2 classes (one folder per class); "
                       "use dcgan for an unlabelled folder")
    classes = num_classes if variant == "cgan" else 0
    generator = build_generator(image_size, channels, latent_dim, classes, width * 2)
    discriminator = build_discriminator(image_size, channels, classes, width)
    steps = critic_steps or (3 if loss == "wgan_gp" else 1)
    return GAN(generator, discriminator, latent_dim, classes, loss=loss, critic_steps=steps,
               name=variant)


def build_dcgan(**options) -> GAN:
    return build("dcgan", **options)


def build_cgan(**options) -> GAN:
    return build("cgan", **options)


def build_wgan_gp(**options) -> GAN:
    return build("wgan_gp", **options)
