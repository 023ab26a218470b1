"""cxrlab.train: the loop learns, records history, keeps the best weights, checks its input."""

import pytest
import torch
import torch.nn as nn

from cxrlab.nets import LeNet5, count_parameters
from cxrlab.train import History, batches, evaluate, fit, predict


def _blobs(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 2, generator=g) * 0.5 + (y.float() * 2 - 1).unsqueeze(1) * 1.5
    return x, y


def test_fit_learns_a_separable_problem_and_records_history():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    train, val = _blobs(400, 0), _blobs(200, 1)
    history = fit(model, train, val, epochs=5, lr=0.05, batch_size=32, progress=False, seed=0)
    assert isinstance(history, History) and history.epochs == 5
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_accuracy[-1] > 0.95
    assert len(history.epoch_seconds) == 5 and history.train_seconds >= sum(history.epoch_seconds) * 0.99
    frame = history.to_frame()
    assert list(frame.index) == [1, 2, 3, 4, 5] and "val_accuracy" in frame
    assert evaluate(model, val)["accuracy"] == pytest.approx(max(history.val_accuracy))


def test_fit_restores_the_best_epoch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2))
    train, val = _blobs(200, 0), _blobs(100, 1)
    history = fit(model, train, val, epochs=6, lr=0.5, schedule="constant", progress=False, seed=0)
    best = history.best_epoch
    assert history.val_accuracy[best - 1] == max(history.val_accuracy)
    assert evaluate(model, val)["accuracy"] == pytest.approx(history.val_accuracy[best - 1])


def test_same_seed_gives_the_same_run():
    def run():
        torch.manual_seed(3)
        model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
        return fit(model, _blobs(), epochs=2, batch_size=50, progress=False, seed=3).train_loss

    assert run() == run()


def test_predict_keeps_order_and_restores_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.train()
    x, y = _blobs(10)
    logits, labels = predict(model, (x, y), batch_size=3)
    assert model.training
    assert torch.equal(labels, y)
    model.eval()
    assert torch.allclose(logits, model(x))


def test_batches_cover_every_example_once():
    x, y = torch.arange(10).float().unsqueeze(1), torch.arange(10)
    seen = torch.cat([yb for _, yb in batches(x, y, 3, shuffle=True, generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(10))


def test_bad_input_is_a_clear_error():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="differ in length"):
        fit(model, (torch.zeros(3, 2), torch.zeros(2, dtype=torch.long)), epochs=1, progress=False)
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="optimizer must be"):
        fit(model, _blobs(10), epochs=1, optimizer="adagrad", progress=False)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(model, _blobs(10), epochs=1, progress=False)


def test_lenet5_shapes_and_parameter_count():
    model = LeNet5()
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850 = 61,706
    assert count_parameters(model) == 61_706
    with pytest.raises(ValueError, match="pad 28x28 digits"):
        model(torch.zeros(2, 1, 28, 28))


def test_channels_last_training_matches_shapes():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 32, 32)
    y = torch.arange(64) % 10
    history = fit(LeNet5(), (x, y), epochs=1, batch_size=16, channels_last=True, progress=False)
    assert history.epochs == 1


class _ThreadSpy(nn.Module):
    """A linear layer that records torch's CPU thread count at every training forward pass."""

    def __init__(self):
        super().__init__()
        self.linear, self.seen = nn.Linear(2, 2), []

    def forward(self, x):
        if self.training:
            self.seen.append(torch.get_num_threads())
        return self.linear(x)


@pytest.mark.parametrize("threads", [1, "auto"])
def test_threads_are_set_for_training_and_restored(threads, monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = _ThreadSpy()
        history = fit(model, _blobs(400), epochs=1, batch_size=20, progress=False, seed=0, threads=threads)
        assert torch.get_num_threads() == 2  # given back
        if threads == 1:
            assert set(model.seen) == {1} and history.threads == 1
        else:  # one untimed + 3 timed steps on each of 2 and 1 threads, then the faster for the rest
            assert model.seen[:8] == [2] * 4 + [1] * 4
            assert history.threads in (1, 2) and set(model.seen[8:]) == {history.threads}
        assert fit(_ThreadSpy(), _blobs(40), epochs=1, progress=False).threads is None
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, "fast", 1.5, True])
def test_bad_thread_counts_are_explained(bad):
    with pytest.raises(ValueError, match="threads must be None, 'auto' or a positive number"):
        fit(nn.Linear(2, 2), _blobs(40), epochs=1, progress=False, threads=bad)
