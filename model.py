"""Train the default digitnet network for 10 epochs and save model.keras.

python model.py [--arch mlp|linear|cnn] [--epochs 10] ...   (same as `digitnet train`)
"""

from digitnet.cli import train_main

if __name__ == "__main__":
    train_main()
