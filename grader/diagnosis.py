"""The classic mistakes the grader can name, each with what it means and what to do.

A mistake is only ever named from a measurement: the student's result equals what a built-in
wrong variant produces on the same inputs, or an observed fact (inputs changed, a timeout, a
parameter that stopped being a leaf). Never from reading the source text.
"""

from __future__ import annotations

import re

MISTAKES: dict[str, tuple[str, str]] = {
    # id: (what was measured, what to do)
    "sum-instead-of-mean": ("the result equals the sum over the samples instead of the mean",
                            "average over the N samples (torch.mean, or divide the sum by N)"),
    "missing-factor-2": ("the result is half of (or twice) the right one: a factor 2 is missing",
                         "d/dy_pred (y_pred - y)^2 = 2 * (y_pred - y); a central difference divides by 2 * h"),
    "wrong-sigmoid-derivative": ("the result matches a wrong derivative of the sigmoid",
                                 "sigma'(z) = sigma(z) * (1 - sigma(z)), with sigma(z) = 1 / (1 + exp(-z))"),
    "wrong-sigmoid-sign": ("the result equals 1 / (1 + exp(+u)): the minus sign is missing",
                           "sigma(u) = 1 / (1 + exp(-u))"),
    "autograd-in-manual-gradient": ("the function fails when autograd is switched off: it uses autograd",
                                    "compute the chain rule by hand; no requires_grad, backward() or torch.autograd"),
    "no-return": ("the function returned None", "end the function with a return statement"),
    "gradient-ascent": ("the parameters move up the gradient (the sign of the step is flipped)",
                        "descend: W = W - learning_rate * W_grad (and the gradient is 2 * (y_pred - y) * ...)"),
    "grad-accumulation": ("the trajectory equals training whose gradients are never emptied: each step "
                          "adds the new gradient to all the previous ones",
                          "empty the gradients every step: W.grad = None (or W.grad.zero_()), or optimizer.zero_grad()"),
    "zero-grad-before-step": ("the parameters never move: the gradients are emptied between backward() and the update",
                              "update first (step), then zero the gradients; or zero them before backward()"),
    "non-leaf-update": ("W or b stopped being the leaf tensors you were given (a new tensor was built, or the "
                        "update was recorded in the graph)",
                        "update in place inside torch.no_grad(): with torch.no_grad(): W -= learning_rate * W.grad"),
    "unscaled-target": ("the targets are 100 times too large: y was not multiplied by 0.01",
                        "self.y = self.y * 0.01, as in the lecture"),
    "lecture-typo-row-7": ("row 7 of X is [4.0, 0.1], the class listing's typo",
                           "use [-4.0, 0.1] from the data slide (the thermometer read -4.0 degrees); "
                           "it gives y_pred[7] = 0.0198"),
    "input-mutated": ("the function changed the tensors it was given", "compute new tensors; do not modify the inputs in place"),
    "timeout": ("the function did not finish within the time limit", "look for an endless loop; respect max_epochs"),
    "rmse-instead-of-mse": ("the result is the root of the mean squared error", "MSE has no square root"),
    "mae-instead-of-mse": ("the result is the mean absolute error", "square the differences instead of taking abs()"),
    "forward-difference": ("the result equals the one-sided difference (f(x + h) - f(x)) / h",
                           "use the central difference (f(x + h) - f(x - h)) / (2 * h)"),
    "accumulation-not-scaled": ("each update is accumulation_steps times too large: the mini-batch losses "
                                "were not divided by accumulation_steps",
                                "call (loss / accumulation_steps).backward()"),
    "graph-broken": ("no gradient flows back through the function", "keep everything in torch operations: no .item(), "
                     "numpy, float() or detach() inside"),
    "hard-coded-cuda": ("the code asks for a CUDA GPU, and there is none here",
                        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')"),
}

_CUDA = re.compile(r"CUDA|cuda|NVIDIA driver|Torch not compiled with CUDA", re.ASCII)
_NON_LEAF = re.compile(r"does not require grad|\.grad attribute of a Tensor that is not a leaf|"
                       r"unsupported operand type\(s\) for \*: '(float|int)' and 'NoneType'|"
                       r"a leaf Variable that requires grad is being used in an in-place operation|"
                       r"can't optimize a non-leaf Tensor")


def explain(mistake: str) -> str:
    """``id: what was measured``."""
    return f"{mistake}: {MISTAKES[mistake][0]}"


def advice(mistake: str) -> str:
    """What to do about a mistake."""
    return MISTAKES[mistake][1]


def from_error(message: str, training: bool) -> str | None:
    """A mistake recognisable from an exception message alone, if any."""
    if _CUDA.search(message) and "torch.cuda.is_available" not in message:
        return "hard-coded-cuda"
    if training and _NON_LEAF.search(message):
        return "non-leaf-update"
    return None
