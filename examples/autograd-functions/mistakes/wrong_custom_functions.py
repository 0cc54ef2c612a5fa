"""Classic wrong versions of the custom autograd Functions of custom_functions.py (never shipped)."""

import torch

from custom_functions import ClippedReLU, Sigmoid


class Sigmoid__backward_missing_output_factor(Sigmoid):
    """backward returns grad_output * (1 - out): the factor out of sigma' = out * (1 - out) is missing."""

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return grad_output * (1 - out)


class Sigmoid__saved_input_not_output(Sigmoid):
    """Saves the input x and uses it in backward as if it were the output: x * (1 - x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 1 / (1 + torch.exp(-x))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * x * (1 - x)


class Sigmoid__backward_ignores_grad_output(Sigmoid):
    """Returns the local derivative out * (1 - out) without multiplying by grad_output."""

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return out * (1 - out)


class ClippedReLU__clamp_upper_bound_ignored(ClippedReLU):
    """The ReLU's slope (1 wherever x > 0): forgets that the output is flat above 1."""

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0).to(grad_output.dtype)


class ClippedReLU__backward_ignores_grad_output(ClippedReLU):
    """Returns the mask of the slope itself, without multiplying by grad_output."""

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return ((x > 0) & (x < 1)).to(grad_output.dtype)
