"""The sigmoid `linear` design reports the probabilities it was trained to give."""

import numpy as np

from digitnet.check import predict_probabilities
from digitnet.data import load_dataset
from digitnet.preprocess import to_model_input
from digitnet.train import train_model


def test_linear_probabilities_match_the_loss_keras_trained(idx_dir):
    dataset = load_dataset(idx_dir)
    result = train_model(dataset, arch="linear", epochs=2, batch_size=32, verbose=0)
    probs = predict_probabilities(result.model, dataset.test.images)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
    labels = dataset.test.labels
    our_loss = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1)).mean()
    keras_loss, _ = result.model.evaluate(to_model_input(dataset.test.images), labels, verbose=0)
    # Keras scores a sigmoid output by the softmax of its pre-sigmoid logits.
    assert abs(our_loss - keras_loss) < 1e-3 * max(1.0, keras_loss)
    assert (probs.argmax(axis=1) == np.asarray(result.model(to_model_input(dataset.test.images))).argmax(axis=1)).all()
