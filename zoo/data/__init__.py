"""Data sources: image folders into tf.data (:mod:`zoo.data.images`) and the offline digits set
(:mod:`zoo.data.digits`). Importing this package imports numpy and Pillow, never TensorFlow.

Everything in ``__all__`` is the declared plugin API: a plugin's task reads image folders the
way ``zoo finetune`` does, with the same decoding, checks and skipped-file report.
"""

from zoo.data.digits import write_digits
from zoo.data.images import (IMAGE_EXTENSIONS, ImageFolder, heldout_items, image_dataset,
                             list_images, load_image, load_images, scan_folder,
                             scan_unlabelled)

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder", "scan_folder", "scan_unlabelled", "heldout_items", "list_images",
           "load_image", "load_images", "image_dataset", "write_digits"]
