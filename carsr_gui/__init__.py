"""carsr: make car photos sharper and twice as large with a Keras autoencoder."""

import os

# TensorFlow reads these when it is first imported; set them here so that every entry point
# (command line, window, frozen app) is quiet and uses the TensorFlow backend of Keras 3.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's CPU tensors come from malloc by default, and glibc hands each large one back to
# the kernel when it is freed: every tile and training step then faults its activations in
# afresh (a quarter of the CPU time in the kernel). The BFC allocator keeps them for reuse
# (README, *Speed*).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.1.0"
