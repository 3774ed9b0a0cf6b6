"""zoo-recommenders: two_tower retrieval, matrix factorization and item-kNN for keras-zoo.

Importing this package is light; models live in :mod:`zoo_recommenders.models`.
"""

__version__ = "0.1.0"
