"""autograde: grade PyTorch autograd exercises with feedback a student can act on."""

__version__ = "0.1.0"
