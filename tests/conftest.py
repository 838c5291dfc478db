"""Shared fixtures: small synthetic digit sets on disk and one tiny trained model."""

from __future__ import annotations

import os

# Before anything imports matplotlib or TensorFlow: no windows, no log noise.
os.environ["MPLBACKEND"] = "Agg"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from synth import make_digits, write_idx_folder, write_npz  # noqa: E402

# tests/faults.py's fixtures (read_only_folder, tiny_disk) for every test module, which
# then import only its helper functions (fill_disk_after, leftovers) by name.
pytest_plugins = ["faults"]

N_TRAIN = 400
N_TEST = 100


@pytest.fixture(scope="session")
def digit_arrays():
    """(train, test): each (images uint8 (N, 28, 28), labels uint8 (N,))."""
    return make_digits(N_TRAIN, seed=1), make_digits(N_TEST, seed=2)


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory, digit_arrays):
    """A folder with the four gzipped IDX files of the synthetic set."""
    train, test = digit_arrays
    return write_idx_folder(tmp_path_factory.mktemp("idx"), train, test)


@pytest.fixture(scope="session")
def npz_file(tmp_path_factory, digit_arrays):
    train, test = digit_arrays
    return write_npz(tmp_path_factory.mktemp("npz") / "digits.npz", train, test)


@pytest.fixture(scope="session")
def trained_model_path(tmp_path_factory, idx_dir):
    """A small mlp trained for 2 epochs on the synthetic set, saved with metadata.

    Batch 32 (not the tuned default, made for 60,000 images) gives it enough steps on
    400 digits to predict most of them right, like a real model would.
    """
    from digitnet.data import load_dataset
    from digitnet.modelio import save_model
    from digitnet.train import train_model

    dataset = load_dataset(idx_dir)
    result = train_model(dataset, arch="mlp", epochs=2, batch_size=32, seed=3, verbose=0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    save_model(result.model, path, result.metadata(dataset))
    return path
