"""Classic wrong versions of the functions of neuron.py."""

import torch

from neuron import SimpleDataset

_TYPO_ROW_7 = [4.0, 0.1]


class SimpleDataset__unscaled_target(SimpleDataset):
    """Targets left in degrees: y is never multiplied by 0.01."""

    def __init__(self):
        super().__init__()
        self.y = self.y * 100


class SimpleDataset__lecture_typo_row_7(SimpleDataset):
    """Row 7 copied from the class listing's typo [4.0, 0.1] instead of [-4.0, 0.1]."""

    def __init__(self):
        super().__init__()
        self.X = self.X.clone()
        self.X[7] = torch.tensor(_TYPO_ROW_7, dtype=self.X.dtype, device=self.X.device)


def activate__wrong_sigmoid_sign(u):
    """1 / (1 + e^u): the minus sign of the exponent lost."""
    return 1 / (1 + torch.exp(u))


def loss_fn__sum_instead_of_mean(y_pred, y):
    """Sum of squared errors instead of their mean."""
    return torch.square(y_pred - y).sum()


def loss_fn__rmse_instead_of_mse(y_pred, y):
    """Root of the mean squared error."""
    return torch.sqrt(torch.square(y_pred - y).mean())


def loss_fn__mae_instead_of_mse(y_pred, y):
    """Mean absolute error."""
    return torch.abs(y_pred - y).mean()


def loss_fn__missing_square(y_pred, y):
    """Mean of the differences, not squared."""
    return (y_pred - y).mean()
