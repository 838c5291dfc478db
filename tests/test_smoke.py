import numpy as np

from digitnet.data import load_dataset


def test_synthetic_idx_round_trip(idx_dir, digit_arrays):
    dataset = load_dataset(idx_dir)
    np.testing.assert_array_equal(dataset.train.images, digit_arrays[0][0])
    np.testing.assert_array_equal(dataset.test.labels, digit_arrays[1][1])


def test_trained_model_fixture(trained_model_path):
    assert trained_model_path.exists()
    assert trained_model_path.with_name("model.keras.json").exists()
