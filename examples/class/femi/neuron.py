"""One artificial neuron on the lecture's 12-sample dataset (lecture: "Artificial Neuron").

Data note: the lecture shows row 7 of X two ways. The data slide has ``[-4.0, 0.1]`` (the
original thermometer data: -4.0 degrees Celsius, reading 21.8), which gives the printed
``y_pred[7] = 0.0198`` and the unscaled loss 2673.9028. The class listing has ``[4.0, 0.1]``,
a typo. Use ``[-4.0, 0.1]``: with it the scaled loss of ``W = [1, 1], b = [0]`` is 0.17980
(the typo gives the listing's 0.2254).
"""

import torch
from torch.utils.data import DataLoader, Dataset

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class SimpleDataset(Dataset):
    """The lecture's 12 samples: ``X`` float32 (12, 2) and ``y`` float32 (12,) times 0.01.

    ``dataset[idx]`` is ``{'input': X[idx], 'target': y[idx]}``; ``len(dataset)`` is 12;
    ``str(dataset)`` is
    ``Data Size: 12, Input Shape: torch.Size([12, 2]), Target Shape: torch.Size([12])``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ### BEGIN SOLUTION
        ### HINT: build self.X (12, 2) and self.y (12,) as float tensors from the lecture's data slide, then scale y by 0.01
        X = [[0.5, 0.9], [14.0, 12.0], [15.0, 13.6],
             [28.0, 22.8], [11.0, 8.1], [8.0, 7.1],
             [3.0, 2.9], [-4.0, 0.1], [6.0, 5.3],
             [13.0, 12.0], [21.0, 19.9], [-1.0, 1.5]]
        y = [35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4, 29.1]
        self.X = torch.tensor(X, dtype=torch.float, device=device)
        self.y = torch.tensor(y, dtype=torch.float, device=device)
        self.y = self.y * 0.01
        ### END SOLUTION

    def __len__(self):
        ### BEGIN SOLUTION
        ### HINT: the number of samples: len(self.X)
        return len(self.X)
        ### END SOLUTION

    def __getitem__(self, idx):
        ### BEGIN SOLUTION
        ### HINT: return {'input': ..., 'target': ...} for sample idx
        return {"input": self.X[idx], "target": self.y[idx]}
        ### END SOLUTION

    def __str__(self):
        ### BEGIN SOLUTION
        ### HINT: format 'Data Size: {0}, Input Shape: {1}, Target Shape: {2}' with len(X), X.shape, y.shape
        return "Data Size: {0}, Input Shape: {1}, Target Shape: {2}".format(
            len(self.X), self.X.shape, self.y.shape
        )
        ### END SOLUTION


def activate(u):
    """The sigmoid activation ``1 / (1 + exp(-u))``, element-wise; same shape as ``u``."""
    ### BEGIN SOLUTION
    ### HINT: 1 / (1 + e^(-u)), or torch.sigmoid
    return torch.sigmoid(u)
    ### END SOLUTION


def model(X, W, b):
    """The neuron's prediction ``sigmoid(sum(X * W, dim=1) + b)``.

    X: (N, F) inputs, W: (F,) weights, b: (1,) bias. Returns y_pred of shape (N,).
    """
    ### BEGIN SOLUTION
    ### HINT: the affine sum u = sum(X * W, dim=1) + b, then activate(u)
    u = torch.sum(X * W, dim=1) + b
    return activate(u)
    ### END SOLUTION


def loss_fn(y_pred, y):
    """Mean squared error ``mean((y_pred - y) ** 2)`` as a 0-d tensor (shape ``()``)."""
    ### BEGIN SOLUTION
    ### HINT: the mean of the squared differences, a 0-d tensor
    loss = torch.square(y_pred - y).mean()
    return loss
    ### END SOLUTION


def main():
    """Print the lecture's first prediction and loss for ``W = [1, 1], b = [0]``."""
    W = torch.ones((2,), device=device)
    b = torch.zeros((1,), device=device)
    simple_dataset = SimpleDataset()
    print(simple_dataset)
    train_data_loader = DataLoader(dataset=simple_dataset, batch_size=len(simple_dataset))
    batch = next(iter(train_data_loader))
    y_pred = model(batch["input"], W, b)
    print(y_pred)
    print(loss_fn(y_pred, batch["target"]))


if __name__ == "__main__":
    main()
