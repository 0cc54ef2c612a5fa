"""Custom autograd Functions: write forward and backward by hand, and save in ``ctx`` what backward needs.

A ``torch.autograd.Function`` subclass is used through ``.apply``: ``y = Sigmoid.apply(x)``.
``forward(ctx, x)`` computes the output and stores what ``backward`` will need with
``ctx.save_for_backward(...)``; ``backward(ctx, grad_output)`` receives the gradient of the loss
with respect to the output and returns the gradient with respect to the input:
``grad_input = grad_output * d(output)/d(input)``, elementwise here.
"""

import torch


class Sigmoid(torch.autograd.Function):
    """sigma(x) = 1 / (1 + exp(-x)), elementwise, with a hand-written backward.

    forward(ctx, x): returns sigma(x), same shape and dtype as x, and saves the *output* with
    ctx.save_for_backward, since sigma'(x) = sigma(x) * (1 - sigma(x)).
    backward(ctx, grad_output): returns grad_output * sigma'(x), computed from the saved output.
    """

    @staticmethod
    def forward(ctx, x):
        raise NotImplementedError('compute the sigmoid of x, save it with ctx.save_for_backward(...), and return it')

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError("read the saved output from ctx.saved_tensors; sigma' = out * (1 - out); chain with grad_output")


class ClippedReLU(torch.autograd.Function):
    """clamp(x, 0, 1), elementwise: 0 below 0, x between 0 and 1, 1 above 1.

    forward(ctx, x): returns x clamped to [0, 1] and saves x with ctx.save_for_backward.
    backward(ctx, grad_output): the slope is 1 where 0 < x < 1 and 0 where x < 0 or x > 1; at
    x = 0 and x = 1 exactly (the kinks) either slope is accepted. Returns grad_output times the slope.
    """

    @staticmethod
    def forward(ctx, x):
        raise NotImplementedError('save x with ctx.save_for_backward(x), then return x clamped to [0, 1]')

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError('the slope is 1 where 0 < x < 1 and 0 elsewhere: multiply grad_output by that mask')
