"""zoo-transfer: heads and losses for fine-tuning backbones (a keras-zoo plugin)."""
