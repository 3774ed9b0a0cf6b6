"""How good are generated images? Figures in the feature space of a small classifier.

A GAN run trains a small CNN classifier on its real training images first (a few seconds on
digits) and keeps it as ``quality.keras``. Its penultimate layer is the feature space:

* ``frechet``: the Fréchet distance between Gaussians fitted to real and generated features
  (FID's formula in a 32-dimensional space of our own); lower is better, and
  ``frechet_real`` is the same figure between two halves of the real data, the floor to compare
  with. Tracked every epoch in history.csv.
* ``near_real_fraction``: the share of generated images whose nearest real image (in feature
  space) is no farther than the 90th percentile of real-to-real nearest-neighbour distances:
  how many "sit about as close to a real image as real images sit to each other". A real
  held-out image scores 0.9 by construction.
* ``classes_covered`` (labelled data): how many classes the classifier assigns at least 1% of
  the samples to, and ``mean_confidence`` its mean top probability: a mode-collapsed generator
  covers few classes; blurry or broken images get low confidence.

With an unlabelled folder (one class) the classifier cannot be trained; its features are those
of the randomly initialised network, which still separate image statistics, and there is no
coverage figure.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

FEATURES_LAYER = "features"
NEAR_PERCENTILE = 90
MIN_CLASS_SHARE = 0.01


def build_classifier(image_size: int, channels: int, num_classes: int) -> keras.Model:
    image = keras.Input((image_size, image_size, channels))
    x = layers.Rescaling(1 / 255)(image)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Dense(32, activation="relu", name=FEATURES_LAYER)(layers.Flatten()(x))
    probabilities = layers.Dense(max(num_classes, 2), activation="softmax")(x)
    return keras.Model(image, probabilities, name="quality_classifier")


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int,
                     epochs: int = 8) -> keras.Model:
    """The judge: trained on the real images when there are classes, else left at random init."""
    model = build_classifier(images.shape[1], images.shape[-1], num_classes)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    if num_classes >= 2:
        model.fit(images, labels, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
    return model


class Judge:
    """Scores generated images against the real ones (see the module doc)."""

    def __init__(self, classifier: keras.Model, real_images: np.ndarray, num_classes: int,
                 seed: int = 0):
        self.classifier = classifier
        self.num_classes = num_classes
        self.features = keras.Model(classifier.inputs,
                                    [classifier.get_layer(FEATURES_LAYER).output,
                                     classifier.outputs[0]])
        real, _ = self.embed(real_images)
        order = np.random.default_rng(seed).permutation(len(real))
        held = order[: max(len(real) // 5, 2)]
        self.reference = real[order[len(held):]]
        self.real = real
        real_nn = _nearest(real[held], self.reference)
        self.near_threshold = float(np.percentile(real_nn, NEAR_PERCENTILE))
        half = len(real) // 2
        self.frechet_real = frechet_distance(real[order[:half]], real[order[half:]])

    def embed(self, images):
        features, probabilities = self.features.predict(np.asarray(images, "float32"),
                                                        batch_size=256, verbose=0)
        return features.astype("float64"), probabilities

    def frechet(self, images) -> float:
        return frechet_distance(self.embed(images)[0], self.real)

    def score(self, images) -> dict:
        """Every figure of the module doc for a batch of generated images (0-255)."""
        features, probabilities = self.embed(images)
        result = {"samples": int(len(images)),
                  "frechet": frechet_distance(features, self.real),
                  "frechet_real": self.frechet_real,
                  "near_real_fraction": float(np.mean(
                      _nearest(features, self.reference) <= self.near_threshold))}
        if self.num_classes >= 2:
            shares = np.bincount(probabilities.argmax(-1), minlength=self.num_classes) / len(images)
            result.update(classes_covered=int(np.sum(shares >= MIN_CLASS_SHARE)),
                          classes=self.num_classes,
                          mean_confidence=float(probabilities.max(-1).mean()))
        return result


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), as in FID."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    # ReLU features have dead units; a small ridge keeps the covariances invertible.
    ridge = 1e-6 * np.eye(a.shape[1])
    cov_a, cov_b = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    root = linalg.sqrtm(cov_a @ cov_b)
    trace = np.trace(cov_a + cov_b - 2 * np.real(root))
    return float(max(np.sum((mu_a - mu_b) ** 2) + trace, 0.0))


def _nearest(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance from each query to its nearest reference row."""
    squared = (np.sum(queries ** 2, 1)[:, None] - 2 * queries @ reference.T
               + np.sum(reference ** 2, 1)[None, :])
    return np.sqrt(np.maximum(squared.min(1), 0.0))


def image_grid(images: np.ndarray, columns: int) -> np.ndarray:
    """N uint8 images -> one uint8 grid image (rows of ``columns``), gray or RGB."""
    n, height, width, channels = images.shape
    rows = -(-n // columns)
    padded = np.zeros((rows * columns, height, width, channels), np.uint8)
    padded[:n] = images
    grid = padded.reshape(rows, columns, height, width, channels).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(rows * height, columns * width, channels)
    return grid[..., 0] if channels == 1 else grid


def independent_digit_judge():
    """A judge blind to the GAN's own classifier: logistic regression on scikit-learn's 8x8
    digits (needs scikit-learn). Returns ``judge(paths) -> (n, 10) probabilities`` for
    generated digit PNGs of any size."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    model = LogisticRegression(max_iter=3000).fit(digits.data / 16, digits.target)

    def judge(paths):
        small = np.stack([np.asarray(Image.open(p).convert("L").resize((8, 8), Image.BOX),
                                     "float32").ravel() / 255 for p in paths])
        return model.predict_proba(small)

    return judge
