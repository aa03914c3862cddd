"""The one way a linear head on the e5 embedding is fitted: full-batch L-BFGS on a logistic loss.

The sentiment head (softmax over three labels) and the category heads (one sigmoid each) differ only in
the loss on the logits, which the caller passes.
"""
from __future__ import annotations


def fit_linear(embeddings, outputs: int, loss, l2: float = 1e-4, steps: int = 200):
    """Weight [outputs, dim] and bias [outputs] minimising loss(logits) + l2 * |weight|^2."""
    import torch
    torch.manual_seed(0)
    weight = torch.zeros(outputs, embeddings.shape[1], requires_grad=True)
    bias = torch.zeros(outputs, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def objective():
        optimiser.zero_grad()
        value = loss(embeddings @ weight.T + bias) + l2 * (weight ** 2).sum()
        value.backward()
        return value

    optimiser.step(objective)
    return weight.detach(), bias.detach()
