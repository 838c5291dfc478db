"""Training a digit classifier: the use case behind `python model.py` / `digitnet train`."""

from __future__ import annotations

import dataclasses
import datetime
import math
import platform
import time

from .data import Dataset
from .models import DEFAULT_ARCH, RECIPES, build_model, compile_model
from .preprocess import to_model_input

DEFAULT_EPOCHS = 10
DEFAULT_SEED = 1
DEFAULT_VALIDATION_SPLIT = 0.1
# Running many batches per call into TensorFlow removes Python overhead per step,
# which dominates for small networks on a CPU.
STEPS_PER_EXECUTION = 32


@dataclasses.dataclass
class TrainingResult:
    model: object
    arch: str
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    validation_split: float
    history: dict
    test_loss: float
    test_accuracy: float
    train_seconds: float
    augment: object = None  # the AugmentSettings used, or None

    def metadata(self, dataset: Dataset) -> dict:
        """What is saved beside the model as JSON."""
        import keras
        import tensorflow as tf

        return {
            "digitnet_version": _version(),
            "architecture": self.arch,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
            "validation_split": self.validation_split,
            "augment": self.augment is not None,
            **({"augment_settings": self.augment.as_dict()} if self.augment is not None else {}),
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "train_seconds": round(self.train_seconds, 3),
            "history": self.history,
            "data": {
                "source": dataset.source,
                "sha256": dataset.sha256,
                "train_examples": len(dataset.train) if dataset.train is not None else 0,
                "test_examples": len(dataset.test) if dataset.test is not None else 0,
            },
            "versions": {
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "python": platform.python_version(),
            },
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }


def _version() -> str:
    from . import __version__

    return __version__


def validation_size(total: int, fraction: float) -> int:
    """How many of ``total`` training examples a validation ``fraction`` holds out."""
    return int(round(total * fraction))


def split_validation(images, labels, fraction: float):
    """Hold out the last ``fraction`` of the training data (as Keras' validation_split does).

    The split does not depend on the seed, so runs with different seeds are tuned and
    compared on the same validation examples.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"validation split must be in [0, 1), got {fraction}")
    n_val = validation_size(len(labels), fraction)
    if n_val == 0:
        return (images, labels), None
    if n_val >= len(labels):
        raise ValueError("validation split leaves no training examples")
    cut = len(labels) - n_val
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:])


def train_model(
    dataset: Dataset,
    *,
    arch: str = DEFAULT_ARCH,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int = DEFAULT_SEED,
    validation_split: float = DEFAULT_VALIDATION_SPLIT,
    verbose: int = 1,
    callbacks=(),
    devices=None,
    log_dir=None,
    augment=False,
) -> TrainingResult:
    """Build, train and test-evaluate a model on ``dataset``; nothing is written to disk but ``log_dir``.

    ``batch_size`` and ``learning_rate`` default to the architecture's tuned recipe.
    ``augment`` (True, or an ``augment.AugmentSettings``) trains on digits varied as
    people's writing varies (see digitnet/augment.py); the model itself is unchanged.
    ``devices`` names devices to mirror training over (default: every GPU when there
    are several, else TensorFlow's own placement).  ``log_dir``: a TensorBoard run folder
    to write the epochs, settings and test results to (digitnet.tensorboard_run).
    """
    if dataset.train is None or dataset.test is None:
        raise ValueError("training needs both the train and the test split")
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    recipe = RECIPES[arch]
    batch_size = batch_size or recipe.batch_size
    learning_rate = learning_rate or recipe.learning_rate

    from .backend import distribution_strategy, import_keras

    keras = import_keras()
    keras.utils.set_random_seed(seed)

    import tensorflow as tf

    if log_dir is not None:
        from .tensorboard_run import run_hparams, tensorboard_callback, write_hparams

        settings = run_hparams(
            arch=arch,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            learning_rate=learning_rate,
            validation_split=validation_split,
            augment=augment,
        )
        write_hparams(log_dir, settings)
        callbacks = [*callbacks, tensorboard_callback(log_dir)]

    (x_train, y_train), validation = split_validation(dataset.train.images, dataset.train.labels, validation_split)
    from .augment import settings_for, with_writing_styles

    augment = settings_for(augment)  # None: plain training
    if augment is not None:
        x_train = with_writing_styles(x_train, y_train, seed=seed, settings=augment)
    # Tensors, made once: the training loop gathers its batches from them inside the
    # graph (and Keras' fit, used for mirrored training, would convert arrays anew).
    x_train, y_train = tf.constant(to_model_input(x_train)), tf.constant(y_train)
    validation_data = (
        (tf.constant(to_model_input(validation[0])), tf.constant(validation[1])) if validation is not None else None
    )

    steps_per_epoch = math.ceil(len(y_train) / batch_size)
    strategy = distribution_strategy(devices)
    steps_per_call = min(STEPS_PER_EXECUTION, steps_per_epoch)
    if augment is not None and strategy.num_replicas_in_sync > 1:
        steps_per_call = 1  # Keras 3.15's mirrored fit fails on a tf.data input with several steps per call
    with strategy.scope():  # several GPUs: mirrored; else default
        model = build_model(arch)
        compile_model(
            model,
            learning_rate=learning_rate,
            total_steps=steps_per_epoch * epochs,
            steps_per_execution=steps_per_call,
        )

    start = time.perf_counter()
    loop = dict(
        batch_size=batch_size,
        epochs=epochs,
        validation_data=validation_data,
        verbose=verbose,
        callbacks=list(callbacks),
    )
    if model.distribute_strategy.num_replicas_in_sync > 1:
        # Keras' fit splits each batch over the replicas and sums their gradients.
        if augment is not None:
            from .augment import augmented_batches

            batches = augmented_batches(x_train, y_train, augment, seed=seed, batch_size=batch_size, epochs=epochs)
            unbatched = {k: v for k, v in loop.items() if k != "batch_size"}
            history = model.fit(batches, steps_per_epoch=steps_per_epoch, **unbatched).history
        else:
            history = model.fit(x_train, y_train, **loop).history
    else:
        history = fit_in_graph(model, x_train, y_train, seed=seed, augment=augment, **loop)
    train_seconds = time.perf_counter() - start

    test_loss, test_accuracy = model.evaluate(
        to_model_input(dataset.test.images), dataset.test.labels, batch_size=1024, verbose=0
    )
    if log_dir is not None:
        from .tensorboard_run import write_test_results

        last_epoch = len(history["loss"]) - 1
        write_test_results(log_dir, loss=float(test_loss), accuracy=float(test_accuracy), step=last_epoch)
    return TrainingResult(
        model=model,
        arch=arch,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        validation_split=validation_split,
        history={k: [float(v) for v in vals] for k, vals in history.items()},
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        train_seconds=train_seconds,
        augment=augment,
    )


def fit_in_graph(
    model, x, y, *, batch_size, epochs, seed, validation_data=None, verbose=1, callbacks=(), augment=None
) -> dict:
    """Train a compiled ``model`` as ``model.fit`` would, on one device; return the history.

    Why not ``fit`` itself: for a network as small as the mlp, fit's per-step machinery
    around the arithmetic (its tf.data input pipeline, the optional values and
    conditionals of its multi-step loop, its metric objects) costs about a third of
    each step on a 2-core CPU: measured back to back, 0.43–0.62 s per mlp epoch under fit
    against 0.29–0.34 s here.  Here the data stay one tensor, each epoch's order is one in-graph
    shuffle, and every call into TensorFlow runs STEPS_PER_EXECUTION steps of
    gather → forward → backward → Adam.  Loss, optimizer, metrics (loss and accuracy,
    averaged over the epoch's examples), Keras callbacks and progress output are
    fit's own, so the model and its history are interchangeable with fit's.
    With ``augment`` (AugmentSettings), each batch is varied in the step itself
    (augment.augment_batch), seeded by (seed, epoch, step).
    """
    import tensorflow as tf

    from .backend import import_keras

    keras = import_keras()
    if augment is not None:
        from .augment import augment_batch
    examples = int(x.shape[0])
    steps = math.ceil(examples / batch_size)
    chunk = min(STEPS_PER_EXECUTION, steps)
    variables = model.trainable_variables
    model.optimizer.build(variables)
    # Tensors once, not NumPy arrays converted anew on every call into the graph.
    x, y = tf.convert_to_tensor(x), tf.cast(y, tf.int32)
    if validation_data is not None:
        validation_data = (tf.convert_to_tensor(validation_data[0]), tf.cast(validation_data[1], tf.int32))

    def batch_totals(labels, scores, loss):
        count = tf.cast(tf.shape(labels)[0], tf.float32)
        hits = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(scores, axis=-1, output_type=tf.int32), labels), tf.float32))
        return tf.stack([loss * count, hits, count])

    @tf.function
    def train_steps(images, labels, order, first_step, last_step, epoch):
        totals = tf.zeros(3)
        for step in tf.range(first_step, last_step):
            rows = order[step * batch_size : (step + 1) * batch_size]
            batch_images, batch_labels = tf.gather(images, rows), tf.gather(labels, rows)
            if augment is not None:
                batch_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch * steps + step, tf.int64)])
                batch_images = augment_batch(batch_images, batch_seed, augment)
            with tf.GradientTape() as tape:
                scores = model(batch_images, training=True)
                loss = model.compute_loss(batch_images, batch_labels, scores, training=True)
            model.optimizer.apply(tape.gradient(loss, variables), variables)
            totals += batch_totals(batch_labels, scores, loss)
        return totals

    @tf.function
    def test_steps(images, labels):
        totals = tf.zeros(3)
        for start in tf.range(0, tf.shape(labels)[0], batch_size):
            batch_images, batch_labels = images[start : start + batch_size], labels[start : start + batch_size]
            scores = model(batch_images, training=False)
            totals += batch_totals(
                batch_labels, scores, model.compute_loss(batch_images, batch_labels, scores, training=False)
            )
        return totals

    def logs_from(totals, prefix=""):
        loss_sum, hits, count = (float(v) for v in totals)
        return {f"{prefix}accuracy": hits / count, f"{prefix}loss": loss_sum / count}

    callback_list = keras.callbacks.CallbackList(
        list(callbacks),
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps,
        model=model,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    logs = {}
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        # A new order every epoch, the same for the same seed.
        order = tf.random.experimental.stateless_shuffle(tf.range(examples), seed=tf.constant([seed, epoch], tf.int64))
        totals = 0
        for first_step in range(0, steps, chunk):
            last_step = min(first_step + chunk, steps)
            callback_list.on_train_batch_begin(first_step)
            totals += train_steps(
                x, y, order, tf.constant(first_step), tf.constant(last_step), tf.constant(epoch)
            ).numpy()
            logs = logs_from(totals)
            callback_list.on_train_batch_end(last_step - 1, logs)
            if model.stop_training:
                break
        if validation_data is not None:
            logs.update(logs_from(test_steps(*validation_data), prefix="val_"))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(variables)
    callback_list.on_train_end(logs)
    return model.history.history
