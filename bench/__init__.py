"""Benchmarks a person runs by hand (not timed tests): ``python -m bench.<name>``.

    python -m bench.cnn_time_to_accuracy     # Lab 04's CNN: seconds to 90% on Fashion-MNIST

See bench/README.md for what each one measures and the figures measured so far.
"""
