"""`digitnet train --augment`: digits varied in the training step, styles MNIST lacks, and a plain saved model."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from two_cpus import run_on_two_cpus

from digitnet.augment import DEFAULT_SETTINGS, AugmentSettings, augment_batch, with_writing_styles
from digitnet.cli import cli

NO_CHANGE = AugmentSettings(
    varied_fraction=1.0,
    rotation_degrees=0,
    shear=0,
    scale=(1, 1),
    aspect=0,
    shift_pixels=0,
    elastic_pixels=0,
    stroke=0,
    blur=0,
)


def _batch(digit_arrays, count=32):
    images = digit_arrays[0][0][:count].astype(np.float32) / 255
    return images


def _seed(a, b):
    import tensorflow as tf

    return tf.constant([a, b], tf.int64)


# --------------------------------------------------------------------------- the batch transform


def test_a_batch_keeps_its_shape_range_and_ink(digit_arrays):
    images = _batch(digit_arrays)
    varied = augment_batch(images, _seed(1, 0)).numpy()

    assert varied.shape == images.shape and varied.dtype == np.float32
    assert varied.min() >= 0 and varied.max() <= 1
    # Every digit is changed, none is lost out of the frame or blurred to nothing.
    changed = np.array([np.abs(v - i).sum() > 5 for v, i in zip(varied, images, strict=True)])
    assert 0.5 < changed.mean() < 1.0  # most, not all: DEFAULT_SETTINGS.varied_fraction
    assert np.all(varied.max(axis=(1, 2)) > 0.7 * images.max(axis=(1, 2)))
    ink_ratio = varied.sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    assert 0.3 < ink_ratio.min() and ink_ratio.max() < 3


def test_the_same_seed_gives_the_same_batch_another_seed_another(digit_arrays):
    images = _batch(digit_arrays)

    first, again, other = (augment_batch(images, _seed(*s)).numpy() for s in ((3, 4), (3, 4), (3, 5)))

    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 0.01


def test_with_nothing_to_vary_the_digits_come_back_unchanged(digit_arrays):
    images = _batch(digit_arrays)

    np.testing.assert_allclose(augment_batch(images, _seed(1, 0), NO_CHANGE).numpy(), images, atol=1e-5)


def test_a_rotation_alone_turns_the_digit_about_the_centre():
    bar = np.zeros((1, 28, 28), np.float32)
    bar[0, 4:24, 13:15] = 1.0  # a vertical bar
    turned = augment_batch(bar, _seed(0, 0), AugmentSettings(**{**NO_CHANGE.__dict__, "rotation_degrees": 30})).numpy()[
        0
    ]

    rows, cols = np.nonzero(turned > 0.5)
    slope = np.polyfit(rows, cols, 1)[0]  # columns per row: 0 for the upright bar
    assert 0.05 < abs(slope) < 0.6  # tan(30°) = 0.58 at most
    assert abs(rows.mean() - 13.5) < 1.5 and abs(cols.mean() - 13.5) < 1.5


# --------------------------------------------------------------------------- styles


def test_flags_and_crossbars_are_added_to_some_1s_and_7s_only():
    from digitnet.data import load_dataset

    train = load_dataset(splits=("train",)).train
    images, labels = train.images[:3000], train.labels[:3000]
    styled = with_writing_styles(images, labels, seed=1)

    changed = (styled != images).any(axis=(1, 2))
    assert set(labels[changed]) == {1, 7}
    for digit, fraction in ((1, DEFAULT_SETTINGS.flag_fraction), (7, DEFAULT_SETTINGS.crossbar_fraction)):
        assert abs(changed[labels == digit].mean() - fraction) < 0.08
    # Strokes are added (the digit may move, to be centred again), and the stroke is a real one.
    added = (styled.astype(int).sum(axis=(1, 2)) - images.astype(int).sum(axis=(1, 2)))[changed] / 255
    assert np.median(added) > 4 and np.mean(added > 0) > 0.9  # less only where it had to be shrunk into 20×20
    np.testing.assert_array_equal(with_writing_styles(images, labels, seed=1), styled)


def test_a_flag_goes_left_from_the_top_of_a_1_which_is_then_centred_as_mnist_was():
    from scipy import ndimage

    ones = np.zeros((8, 28, 28), np.uint8)
    ones[:, 4:24, 13:15] = 255
    flagged = with_writing_styles(ones, np.ones(8, int), seed=2, settings=AugmentSettings(flag_fraction=1.0))

    stems = []
    for digit in flagged:
        ink = digit > 100
        stems.append(np.median(np.nonzero(ink[18:22])[1]))  # the stem's column, below the flag, above any foot
        rows, cols = np.nonzero(ink[:14])
        assert np.sum(cols < stems[-1] - 2) >= 3  # ink left of the stem's top: the flag
        # Centred by its centre of mass again (MNIST's rule, measured at 14.0).
        assert np.allclose(ndimage.center_of_mass(digit.astype(float)), 14.0, atol=0.6)
    assert np.mean(stems) > 14.2  # so the stem moved right of where the plain 1's was (13.5)


def test_centring_again_leaves_mnist_digits_as_they_were():
    from digitnet.augment import _normalised_like_mnist
    from digitnet.data import load_dataset

    images = load_dataset(splits=("train",)).train.images[:2000]
    np.testing.assert_array_equal(_normalised_like_mnist(images), images)


# --------------------------------------------------------------------------- training and the saved model


@pytest.mark.parametrize("arch", ["mlp", "linear", "cnn"])
def test_train_augment_saves_the_same_plain_design_with_its_settings(tmp_path, idx_dir, arch):
    from digitnet.modelio import load_model

    paths = {}
    for flag in ([], ["--augment"]):
        out = tmp_path / f"{arch}{'-aug' if flag else ''}.keras"
        result = CliRunner().invoke(
            cli,
            [
                "train",
                "--arch",
                arch,
                "--epochs",
                "1",
                "--batch-size",
                "64",
                "--data",
                str(idx_dir),
                "--output",
                str(out),
                "--quiet",
                *flag,
            ],
        )
        assert result.exit_code == 0, result.output
        paths[bool(flag)] = out

    meta = json.loads(paths[True].with_name(paths[True].name + ".json").read_text())
    assert meta["augment"] is True
    assert meta["augment_settings"] == DEFAULT_SETTINGS.as_dict()
    assert json.loads(paths[False].with_name(paths[False].name + ".json").read_text())["augment"] is False

    def architecture(path):
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        return [(layer["class_name"], layer["module"]) for layer in config["config"]["layers"]]

    assert architecture(paths[True]) == architecture(paths[False])
    from digitnet.models import build_model

    saved = load_model(paths[True])  # safe mode
    plain = build_model(arch)
    plain.set_weights(saved.get_weights())
    images = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(saved.predict(images, verbose=0), plain.predict(images, verbose=0))


def test_augmented_training_still_learns(idx_dir):
    from digitnet.data import load_dataset
    from digitnet.train import train_model

    result = train_model(load_dataset(idx_dir), arch="mlp", epochs=3, batch_size=32, seed=1, verbose=0, augment=True)
    # Plain training reaches 81–87% here; measured 6x% with augmentation (harder examples).
    assert result.test_accuracy > 0.4
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_mirrored_training_augments_through_a_data_pipeline(idx_dir):
    # Several devices train through Keras' fit: the varied batches come from tf.data.
    out = run_on_two_cpus(
        f"""
        dataset = load_dataset({str(idx_dir)!r})
        result = train_model(dataset, epochs=2, batch_size=64, verbose=0, devices=devices, augment=True)
        replicas = result.model.distribute_strategy.num_replicas_in_sync
        print(replicas, len(result.history["loss"]), result.metadata(dataset)["augment"])
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2", "2", "True"]
