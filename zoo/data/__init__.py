"""Data sources: image folders into tf.data (:mod:`zoo.data.images`) and the offline digits set
(:mod:`zoo.data.digits`). Importing this package never imports TensorFlow."""
