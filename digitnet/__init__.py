"""digitnet: train a Keras network on the MNIST digits and see what it predicts.

Importing the package does no work: TensorFlow, NumPy and matplotlib are imported
by the functions that need them, so `digitnet --help` stays instant.
"""

__version__ = "0.1.0"
