"""carsr: make car photos sharper and twice as large with a Keras autoencoder."""

import os

# TensorFlow reads these when it is first imported; set them here so that every entry point
# (command line, window, frozen app) is quiet and uses the TensorFlow backend of Keras 3.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
