"""The recipes that read the data (zoo.recipes): what the image tasks and `zoo pretrain` resolve
from the number of images, and that an explicit option always wins."""

import pytest

from zoo import recipes
from zoo.data import write_digits
from zoo.tasks.image_pretraining import ImagePretrainingTask


@pytest.mark.parametrize("pretrained", [False, True])
@pytest.mark.parametrize("images, batch", [(20, 8), (40, 8), (100, 8), (160, 16), (200, 16),
                                           (320, 32), (5000, 32)])
def test_image_defaults_give_enough_steps_and_patience_for_small_sets(images, batch, pretrained):
    found = recipes.image_defaults(images, pretrained)
    assert found["batch_size"] == batch  # the largest with 10 steps a pass, else the smallest
    steps = recipes.steps_per_epoch(images, batch, recipes.repeats(images, batch,
                                                                   found["min_steps"]))
    assert steps >= recipes.MIN_STEPS  # an epoch is never a step or two
    small = images < recipes.SMALL_SET
    assert found["epochs"] * steps >= 200 and found["patience"] >= (10 if small else 5)
    # Only a pretrained run has a frozen stage; from scratch, a small set trains longest.
    assert ("head_epochs" in found) == pretrained
    if small and not pretrained:  # stage 2 starts from a trained head: shorter
        assert found["epochs"] > recipes.image_defaults(images, True)["epochs"]


@pytest.mark.parametrize("images, scale", [(999, 1.0), (1000, 1 / 3)])
def test_stage_2_fine_tunes_a_small_set_at_stage_1s_rate_and_a_large_one_at_a_third(images,
                                                                                   scale):
    assert recipes.fine_tune_lr(0.003, images) == pytest.approx(0.003 * scale)


@pytest.mark.parametrize("count, fraction, expected", [
    (10, 0.2, 2), (5, 0.2, 2), (4, 0.2, 2), (3, 0.2, 1), (2, 0.2, 1), (1, 0.2, 0),
    (100, 0.2, 20), (10, 0.0, 0)])
def test_a_validation_split_keeps_two_images_of_a_class_when_it_can(count, fraction, expected):
    assert recipes.val_count(count, fraction) == expected


@pytest.mark.parametrize("images", [16, 100, 1500, 9000, 60000])
def test_pretraining_defaults_are_a_step_budget_with_full_batches(images):
    found = recipes.pretrain_defaults(images)
    low, high = recipes.PRETRAIN_BATCH
    assert low <= found["batch_size"] <= high
    assert found["batch_size"] == high or images < found["batch_size"] * 2 * \
        recipes.PRETRAIN_STEPS_PER_PASS
    epochs_low, epochs_high = recipes.PRETRAIN_EPOCHS
    assert epochs_low <= found["epochs"] <= epochs_high
    steps = found["epochs"] * max(1, images // found["batch_size"])
    assert steps >= recipes.PRETRAIN_STEPS or found["epochs"] == epochs_high


def test_pretraining_resolves_batch_and_epochs_from_the_data_and_a_given_option_wins(tmp_path):
    digits = write_digits(tmp_path / "digits", limit=30)["path"]
    task = ImagePretrainingTask(backbone="plain_cnn", data=digits, image_size=32,
                                log=lambda line: None)
    task.check()
    data = task.load_data()
    assert data.recipe == recipes.pretrain_defaults(len(data.splits["train"]))
    assert data.recipe_basis == f"{len(data.splits['train'])} training images"
    assert task.options["batch_size"] == data.recipe["batch_size"]

    given = ImagePretrainingTask(backbone="plain_cnn", data=digits, image_size=32, epochs=3,
                                 log=lambda line: None)
    given.check()
    assert set(given.load_data().recipe) == {"batch_size"} and given.options["epochs"] == 3
