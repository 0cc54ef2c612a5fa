"""The mistakes the grader can name: the ones it measures on its own, and the course's.

A mistake is only ever named from a measurement: the student's result equals what a wrong
variant produces on the same inputs, or what the reference gives on a transformed call (see
``grader.measured``), it is the reference's times a factor the course gave a meaning, a check whose
failure has one meaning failed, or an observed fact (inputs changed, a timeout, a parameter that
stopped being a leaf). Never from reading the source text. The engine's own mistakes are below; a
course declares the rest (and may reword these) in ``assignment.toml`` as ``[mistake.<id>]`` tables
with ``meaning`` and ``hint``, and optionally ``factor`` (a number, ``"N"`` for the number of samples
of the call, or a list of them) and ``steps = "accumulated"`` (what a training trajectory shows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mistake:
    """What was measured, and what to do about it."""

    meaning: str
    hint: str
    factors: tuple[float | str, ...] = ()  # the result (or a training step) is k times the reference's
    accumulated_steps: bool = False  # each training step is the reference's plus the previous step


BUILT_IN: dict[str, Mistake] = {
    "no-return": Mistake("the function returned None", "end the function with a return statement"),
    "input-mutated": Mistake("the function changed the tensors it was given",
                             "compute new tensors; do not modify the inputs in place"),
    "timeout": Mistake("the function did not finish within the time limit",
                       "look for an endless loop, and make sure the number of epochs or steps asked for is honoured"),
    "graph-broken": Mistake("no gradient flows back through the function",
                            "keep everything in torch operations: no .item(), numpy, float() or detach() inside"),
    "hard-coded-cuda": Mistake("the code asks for a CUDA GPU, and grading runs where there is none",
                               "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')"),
    "non-leaf-update": Mistake("a parameter stopped being the leaf tensor you were given (a new tensor was built, "
                               "or the update was recorded in the graph)",
                               "update in place inside torch.no_grad(): with torch.no_grad(): p -= learning_rate * p.grad"),
    "autograd-in-manual-gradient": Mistake("the function fails when autograd is switched off: it uses autograd",
                                           "compute the chain rule by hand; no requires_grad, backward() or torch.autograd"),
    "sign-flipped": Mistake("every value has the opposite sign of the expected one", "look for a minus sign too many or missing"),
    "broadcast-shape": Mistake("a vector of shape (N,) was used as a column of shape (N, 1) (or the reverse): "
                               "an (N, 1) column met with an (N,) vector broadcasts to an (N, N) matrix",
                               "keep vectors 1-D: no unsqueeze, keepdim or reshape(-1, 1) here; check each "
                               "intermediate's .shape"),
    "swapped-arguments": Mistake("the result equals the reference's with two of the arguments swapped",
                                 "use the parameters in the order of the signature"),
    "transposed-result": Mistake("the result is the expected matrix transposed", "swap the matrix product's "
                                 "operands (or their .T), or the dimensions of the reduction"),
    "early-float32": Mistake("the result equals the reference's computed on the float64 inputs cast to float32",
                             "keep the inputs' dtype: no .float() or torch.float32 on them"),
    "scaled-step": Mistake("each training update is the right update times a constant factor (the feedback says which)",
                           "update with p -= learning_rate * gradient: the learning rate you are given, the "
                           "gradient of the mean loss, and a minus sign"),
    "no-update": Mistake("the parameters did not move: the update never reached the tensors that were passed in",
                         "the usual causes: emptying the gradients (zero_grad, p.grad = None) between backward() and "
                         "the step; training a copy of the parameters (a clone, a new tensor, a new model); updating "
                         "a detached tensor, or the .data of a copy, instead of the parameter itself"),
    "accumulated-steps": Mistake("each training update is the right one plus the previous update: the gradients "
                                 "are never emptied between steps",
                                 "empty the gradients every step (p.grad = None, or optimizer.zero_grad())"),
    "wrong-backward": Mistake("the custom backward's gradients differ from finite differences of the forward",
                              "apply the chain rule: grad_input = grad_output * d(output)/d(input), with what "
                              "forward saved in ctx"),
}


@dataclass(frozen=True)
class Catalogue:
    """The mistakes one course can name: the engine's own, overridden and extended by the course's."""

    mistakes: dict[str, Mistake] = field(default_factory=lambda: dict(BUILT_IN))

    @classmethod
    def with_course(cls, declared: dict[str, dict]) -> Catalogue:
        """The engine's mistakes plus a course's ``[mistake.<id>]`` tables."""
        mistakes = dict(BUILT_IN)
        for mistake, entry in declared.items():
            if entry.get("steps", "accumulated") != "accumulated":
                raise ValueError(f"steps can only be \"accumulated\", not {entry['steps']!r}")
            mistakes[mistake] = Mistake(str(entry["meaning"]), str(entry["hint"]), _factors(entry.get("factor", ())),
                                        "steps" in entry)
        return cls(mistakes)

    def get(self, mistake: str) -> Mistake | None:
        """The mistake's declaration, or None for an unknown id."""
        return self.mistakes.get(mistake)

    def __contains__(self, mistake: str) -> bool:
        return mistake in self.mistakes

    def meaning(self, mistake: str) -> str:
        """What was measured (never raises: an unknown id has an empty meaning)."""
        found = self.mistakes.get(mistake)
        return found.meaning if found else ""

    def explain(self, mistake: str) -> str:
        """``id: what was measured``."""
        meaning = self.meaning(mistake)
        return f"{mistake}: {meaning}" if meaning else mistake

    def advice(self, mistake: str, hints: dict[str, str] | None = None) -> str:
        """What to do: the function's own wording when it has one, else the mistake's."""
        if hints and mistake in hints:
            return hints[mistake]
        found = self.mistakes.get(mistake)
        return found.hint if found else ""


def _factors(declared: object) -> tuple[float | str, ...]:
    """A ``factor`` declaration as a tuple: numbers, and ``"N"`` (the number of samples of the call)."""
    listed = declared if isinstance(declared, list) else [declared] if declared != () else []
    if not all(item == "N" or isinstance(item, (int, float)) and not isinstance(item, bool) for item in listed):
        raise ValueError(f"factor must be a number, \"N\" or a list of them, not {declared!r}")
    return tuple(item if item == "N" else float(item) for item in listed)


_CUDA = re.compile(r"No CUDA GPUs are available|Torch not compiled with CUDA|Found no NVIDIA driver|"
                   r"no CUDA-capable device|CUDA driver version is insufficient", re.IGNORECASE)
_NON_LEAF = re.compile(r"does not require grad|\.grad attribute of a Tensor that is not a leaf|"
                       r"unsupported operand type\(s\) for \*: '(float|int)' and 'NoneType'|"
                       r"a leaf Variable that requires grad is being used in an in-place operation|"
                       r"can't optimize a non-leaf Tensor")


_GRAPH_CUT = re.compile(r"Can't call numpy\(\) on Tensor that requires grad|"
                        r"element 0 of tensors does not require grad and does not have a grad_fn")


def from_error(message: str, training: bool, autograd: bool = False) -> str | None:
    """A mistake recognisable from an exception message alone, if any (``training``: the check trains;
    ``autograd``: the check differentiates through the function)."""
    if _CUDA.search(message):
        return "hard-coded-cuda"
    if training and _NON_LEAF.search(message):
        return "non-leaf-update"
    if autograd and _GRAPH_CUT.search(message):
        return "graph-broken"
    return None
