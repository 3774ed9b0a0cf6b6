"""zoo-gan: GANs for keras-zoo (dcgan, cgan, wgan_gp), trained with ``zoo train``.

Importing this package is light; the networks live in :mod:`zoo_gan.models`.
"""

__version__ = "0.1.0"
