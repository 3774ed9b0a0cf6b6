"""Data sources: image folders into tf.data (:mod:`zoo.data.images`), CSVs of image paths and
targets (:mod:`zoo.data.image_tables`) and the offline image sets:
digits (:mod:`zoo.data.digits`) and letters rendered from installed typefaces
(:mod:`zoo.data.letters`). Importing this package imports numpy and Pillow, never TensorFlow.

Everything in ``__all__`` is the declared plugin API: a plugin's task reads image folders the
way ``zoo finetune`` does, with the same decoding, checks and skipped-file report.
"""

from zoo.data.digits import write_digits
from zoo.data.image_tables import ImageTable, read_image_table
from zoo.data.images import (IMAGE_EXTENSIONS, ImageFolder, heldout_items, image_dataset,
                             label_array, list_images, load_image, load_images, scan_folder,
                             scan_unlabelled)
from zoo.data.letters import write_letters

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder", "scan_folder", "scan_unlabelled", "heldout_items",
           "list_images", "load_image", "load_images", "image_dataset", "label_array",
           "ImageTable", "read_image_table", "write_digits", "write_letters"]
