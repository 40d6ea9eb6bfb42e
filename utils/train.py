"""A short, readable PyTorch training loop for the labs that are not about the loop.

    history = train.fit(model, train_loader, epochs=5, optimizer=opt, val_data=test_loader)
    train.evaluate(model, test_loader)          # {'loss': ..., 'accuracy': ...}

``history`` is a dict of lists shaped like Keras's ``History.history`` (loss,
accuracy, val_loss, val_accuracy), so ``plots.history`` draws both.
"""
import time


def evaluate(model, loader, loss_fn=None) -> dict:
    """Mean loss and accuracy of ``model`` over ``loader`` (no gradients, eval mode)."""
    import torch
    import torch.nn.functional as F

    loss_fn = loss_fn or F.cross_entropy
    was_training = model.training
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            loss_sum += loss_fn(out, y).item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            total += len(y)
    model.train(was_training)
    return {"loss": loss_sum / total, "accuracy": correct / total}


def predict(model, x, batch_size=1024):
    """Class scores for a tensor of inputs, in eval mode, batch by batch."""
    import torch

    model.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            outs.append(model(x[start:start + batch_size]))
    return torch.cat(outs)


def fit(model, train_loader, epochs, optimizer, loss_fn=None, val_data=None, scheduler=None,
        progress=True, on_epoch_end=None, on_batch_end=None) -> dict:
    """Train ``model`` for ``epochs``; returns the Keras-like history dict.

    ``scheduler`` (optional) is stepped once per batch, which suits OneCycleLR.
    ``on_epoch_end(epoch, logs)`` is called after each epoch (e.g. to stop early).
    ``on_batch_end(step)`` is called after each optimizer step (``step`` counts from 1); a true
    result stops training at once (bench/cnn_time_to_accuracy.py times the lab's own runs so).
    """
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    loss_fn = loss_fn or F.cross_entropy
    history = {"loss": [], "accuracy": [], "epoch_seconds": []}
    if val_data is not None:
        history.update(val_loss=[], val_accuracy=[])
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    step, stop = 0, False
    for epoch in bar:
        model.train()
        start = time.perf_counter()
        total, correct, loss_sum = 0, 0, 0.0
        for x, y in train_loader:
            out = model(x)
            loss = loss_fn(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            n = len(y)
            loss_sum += loss.item() * n
            correct += (out.argmax(1) == y).sum().item()
            total += n
            step += 1
            if on_batch_end is not None and on_batch_end(step):
                stop = True
                break
        logs = {"loss": loss_sum / total, "accuracy": correct / total}
        history["epoch_seconds"].append(time.perf_counter() - start)
        if val_data is not None:
            val = evaluate(model, val_data, loss_fn)
            logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        for k, v in logs.items():
            history[k].append(v)
        bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()})
        if stop or (on_epoch_end is not None and on_epoch_end(epoch, logs)):
            break
    return history
