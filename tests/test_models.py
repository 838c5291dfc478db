"""The three architectures: their layers, how they are compiled, and a save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet import cli
from digitnet.check import predict_probabilities
from digitnet.data import load_dataset
from digitnet.modelio import load_model, read_metadata, save_model
from digitnet.models import ARCHITECTURES, build_model
from digitnet.train import train_model


@pytest.fixture(scope="module")
def dataset(idx_dir):
    return load_dataset(idx_dir)


def layer_kinds(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer"]


def dense_layers(model):
    return [layer for layer in model.layers if type(layer).__name__ == "Dense"]


def test_the_cli_offers_exactly_the_built_architectures():
    assert tuple(cli.ARCH_CHOICES) == tuple(ARCHITECTURES)
    assert set(ARCHITECTURES) == {"mlp", "linear", "cnn"}


def test_mlp_is_the_original_design():
    model = build_model("mlp")

    assert layer_kinds(model) == ["Flatten", "Dense", "Dropout", "Dense", "Dense"]
    dense = dense_layers(model)
    assert [layer.units for layer in dense] == [256, 256, 10]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "softmax"]
    dropout = next(layer for layer in model.layers if type(layer).__name__ == "Dropout")
    assert 0 < dropout.rate < 1
    assert model.input_shape == (None, 28, 28)
    assert model.output_shape == (None, 10)


def test_linear_is_one_sigmoid_layer_on_784_inputs():
    model = build_model("linear")

    assert layer_kinds(model) == ["Flatten", "Dense"]
    (dense,) = dense_layers(model)
    assert dense.activation.__name__ == "sigmoid"
    assert tuple(dense.kernel.shape) == (784, 10)
    assert model.count_params() == 784 * 10 + 10


def test_cnn_is_two_blocks_of_two_normalised_convolutions_ending_in_ten_softmax_classes():
    model = build_model("cnn")

    convolution = ["Conv2D", "BatchNormalization", "ReLU"]
    block = convolution * 2 + ["MaxPooling2D"]
    assert layer_kinds(model) == ["Reshape"] + block * 2 + ["Flatten", "Dropout", "Dense"]
    filters = [layer.filters for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert filters == [32, 32, 64, 64]
    # No biases before a normalisation (its shift replaces them): 75,818 weights in all.
    assert model.count_params() == 75_818
    last = model.layers[-1]
    assert type(last).__name__ == "Dense" and last.units == 10 and last.activation.__name__ == "softmax"
    assert model.input_shape == (None, 28, 28)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_only_built_in_keras_layers(arch):
    # Safe-mode loading refuses Lambda and custom layers, so a model must not need them.
    for layer in build_model(arch).layers:
        assert type(layer).__module__.startswith("keras."), type(layer)
        assert type(layer).__name__ != "Lambda"


def test_an_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("transformer")


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_trains_one_epoch_saves_and_loads_with_equal_predictions(arch, dataset, tmp_path):
    result = train_model(dataset, arch=arch, epochs=1, seed=0, verbose=0)

    compiled = result.model.get_compile_config()
    assert compiled["optimizer"]["class_name"] == "Adam"
    assert compiled["loss"] == "sparse_categorical_crossentropy"
    assert compiled["metrics"] == ["accuracy"]
    assert {key: len(values) for key, values in result.history.items()} == {
        "loss": 1,
        "accuracy": 1,
        "val_loss": 1,
        "val_accuracy": 1,
    }
    assert 0 <= result.test_accuracy <= 1 and np.isfinite(result.test_loss)

    path = save_model(result.model, tmp_path / f"{arch}.keras", result.metadata(dataset))
    loaded = load_model(path)

    before = predict_probabilities(result.model, dataset.test.images)
    after = predict_probabilities(loaded, dataset.test.images)
    assert before.shape == (len(dataset.test), 10)
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(after.sum(axis=1), 1.0, atol=1e-6)
    # Checking scores pixels exactly as training did: same accuracy as Keras' evaluate.
    assert np.mean(after.argmax(axis=1) == dataset.test.labels) == pytest.approx(result.test_accuracy, abs=1e-6)
    assert read_metadata(path)["architecture"] == arch
