"""cnnsweep: declarative experiment sweeps for convolutional networks written in NumPy."""

__version__ = "0.1.0"
