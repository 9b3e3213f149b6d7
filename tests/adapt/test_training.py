"""The training loop (issue 31 item 13): every planned step by default, and a run stopped part-way (a budget, or
a kill after a checkpoint) continues where it stopped, with the same batches in the same order, to the same
weights an uninterrupted run reaches."""

import pytest

pytest.importorskip("torch")

import torch

from ragship.adapt import training
from ragship.adapt.training import train_loop

EXAMPLES = [(float(i), 2.0 * i + 1.0) for i in range(-20, 20)]


def model_and_loss():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Dropout(0.1), torch.nn.Linear(8, 1))

    def loss_of(batch):
        x = torch.tensor([[b[0] / 20] for b in batch])
        y = torch.tensor([[b[1] / 20] for b in batch])
        return torch.nn.functional.mse_loss(model(x), y)

    return model, loss_of


def run(checkpoint=None, budget_s=None, **options):
    model, loss_of = model_and_loss()
    log = train_loop(model, EXAMPLES, loss_of, epochs=3, batch_size=4, lr=1e-2, warmup=0.1, budget_s=budget_s,
                     seed=7, checkpoint=checkpoint, **options)
    return model, log


def test_every_planned_step_runs_without_a_budget():
    _, log = run()
    assert log["steps"] == log["planned_steps"] == 30 and not log["stopped_by_budget"]


def test_a_stopped_run_continues_where_it_stopped_to_the_same_weights(tmp_path, monkeypatch):
    whole, whole_log = run()
    checkpoint = tmp_path / ".reader-x.training.pt"
    monkeypatch.setattr(training, "CHECKPOINT_EVERY_S", -1.0)  # save after every step
    steps = []

    def killed(step, total, loss):
        steps.append(step)
        if step == 13:
            raise KeyboardInterrupt  # a kill: the checkpoint after step 13 is on disk

    with pytest.raises(KeyboardInterrupt):
        run(checkpoint, progress=killed)
    assert checkpoint.exists()
    resumed, log = run(checkpoint)
    assert log["resumed_at_step"] == 13 and log["steps"] == 30 and not checkpoint.exists()
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    assert log["last_loss"] == pytest.approx(whole_log["last_loss"], abs=1e-6)


def test_a_checkpoint_of_other_settings_is_not_continued(tmp_path, monkeypatch):
    checkpoint = tmp_path / ".x.training.pt"
    monkeypatch.setattr(training, "CHECKPOINT_EVERY_S", -1.0)
    model, loss_of = model_and_loss()
    train_loop(model, EXAMPLES, loss_of, epochs=1, batch_size=8, lr=1e-2, warmup=0.1, budget_s=0.0, seed=7,
               checkpoint=checkpoint)
    assert checkpoint.exists()  # stopped by its budget: kept
    _, log = run(checkpoint)  # other epochs and batch size: a fresh run
    assert log["resumed_at_step"] is None and log["steps"] == 30
