"""The parts of the training data root, one module each; ``tools/make_data.py`` drives them."""
