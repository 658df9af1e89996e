"""Checkpoints in the engine: a training continued from any of its checkpoints is bitwise the
training never stopped (every optimizer, batch norm, dropout, a batch split over threads,
both samplings); unusable checkpoints are named and refused."""

import errno
import zipfile

import numpy as np
import pytest

from cnnsweep import checkpoint
from cnnsweep.checkpoint import CheckpointError, Owner
from cnnsweep.nn import ConvSpec, SimpleConvNetSpec, build_network, make_optimizer
from cnnsweep.nn.optimizers import OPTIMIZERS
from cnnsweep.train import Checkpointer, TrainSettings, train
from tests.test_train import blobs

OWNER = Owner("c0ffee", "cafe", "float32", "run")


class ToFiles(Checkpointer):
    """Saves every checkpoint to its own file, as the run folder's one file would be."""

    def __init__(self, folder, network, optimizer, every_seconds=None):
        self.folder, self.network, self.optimizer = folder, network, optimizer
        self.every_seconds, self.paths = every_seconds, []

    def save(self, state):
        path = self.folder / f"{state.iteration}.npz"
        checkpoint.save(path, self.network, self.optimizer, state, OWNER)
        self.paths.append(path)


def setup(optimizer, batchnorm=False, dropout=0.0, threads=1, seed=3):
    rng = np.random.default_rng(seed)
    spec = SimpleConvNetSpec(ConvSpec(3, 3), hidden_size=12, batchnorm=batchnorm,
                             dropout=dropout)
    net = build_network(spec, (1, 8, 8), init="he", rng=rng)
    net.set_threads(threads)
    lr = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05}.get(optimizer, 0.01)
    return net, make_optimizer(optimizer, lr=lr), rng


def trained(optimizer, settings, folder=None, resume_from=None, **kw):
    x, t = blobs(130)
    xt, tt = blobs(40, seed=1)
    net, opt, rng = setup(optimizer, **kw)
    saver = ToFiles(folder, net, opt, every_seconds=0.0) if folder else None
    resume = None
    if resume_from is not None:
        resume = checkpoint.restore(checkpoint.load(resume_from), net, opt)
    result = train(net, opt, x, t, xt, tt, settings, rng, checkpointer=saver, resume=resume)
    return net, result, saver


def same(a, b):
    net_a, result_a = a
    net_b, result_b = b
    assert result_a.steps == result_b.steps
    assert [(e.epoch, e.iteration, e.train_acc, e.test_acc) for e in result_a.epochs] == \
        [(e.epoch, e.iteration, e.train_acc, e.test_acc) for e in result_b.epochs]
    assert result_a.final_test_acc == result_b.final_test_acc
    for key, value in net_a.state_dict().items():
        assert value.tobytes() == net_b.state_dict()[key].tobytes(), key


SETTINGS = TrainSettings(epochs=3, batch_size=30, eval_sample=None, log_every=2)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_continuing_from_every_checkpoint_is_the_run_never_stopped(tmp_path, optimizer):
    net, result, saver = trained(optimizer, SETTINGS, tmp_path)
    # 130 images in batches of 30: 5 per epoch, the last one short; a checkpoint every step
    assert [p.stem for p in saver.paths] == [str(i) for i in range(1, 16)]
    for path in saver.paths[::3] + saver.paths[4:6]:  # mid-epoch and at epoch ends
        again_net, again, _ = trained(optimizer, SETTINGS, resume_from=path)
        same((net, result), (again_net, again))


@pytest.mark.parametrize(("kind", "kw"), [("batch norm", {"batchnorm": True}),
                                          ("dropout", {"dropout": 0.3}),
                                          ("dropout, batch split", {"dropout": 0.3,
                                                                    "threads": 2})])
def test_batch_norm_and_dropout_continue_exactly(tmp_path, kind, kw):
    net, result, saver = trained("adam", SETTINGS, tmp_path, **kw)
    for path in (saver.paths[2], saver.paths[4], saver.paths[11]):
        again_net, again, _ = trained("adam", SETTINGS, resume_from=path, **kw)
        same((net, result), (again_net, again))


def test_sampling_with_replacement_and_max_iterations_continue_exactly(tmp_path):
    settings = TrainSettings(epochs=9, max_iterations=11, batch_size=30, eval_sample=None,
                             sampling="replacement")
    net, result, saver = trained("momentum", settings, tmp_path)
    again_net, again, _ = trained("momentum", settings, resume_from=saver.paths[6])
    same((net, result), (again_net, again))


def test_the_end_of_a_shorter_run_continues_into_a_longer_one(tmp_path):
    """An extension: the last checkpoint of 7 iterations (mid-epoch, with a loss and an
    evaluation logged only because it ended there) continues to 3 epochs."""
    short = TrainSettings(epochs=3, max_iterations=7, batch_size=30, eval_sample=None,
                          log_every=2)
    _, shorter, saver = trained("adam", short, tmp_path)
    assert shorter.steps[-1].iteration == 7 and shorter.epochs[-1].iteration == 7
    net, result, _ = trained("adam", SETTINGS)
    again_net, again, _ = trained("adam", SETTINGS, resume_from=saver.paths[-1])
    same((net, result), (again_net, again))


def test_a_checkpoint_round_trips_every_array_and_record(tmp_path):
    net, result, saver = trained("adam", SETTINGS, tmp_path, dropout=0.2)
    loaded = checkpoint.load(saver.paths[-1])
    assert loaded.owner == OWNER and loaded.engine == checkpoint.ENGINE
    assert loaded.iteration == 15 and loaded.counters == {"t": 15}
    assert loaded.state.steps == result.steps
    assert list(map(repr, loaded.state.epochs)) == list(map(repr, result.epochs))  # NaN val_acc
    assert sorted(loaded.network) == sorted(net.state_dict())


def bad_copies(tmp_path, good):
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    corrupt = tmp_path / "corrupt.npz"
    flipped = bytearray(data)
    with zipfile.ZipFile(good) as z:  # a byte inside the first parameter's data
        info = z.getinfo("net/W1.npy")
    flipped[info.header_offset + 200] ^= 0xFF
    corrupt.write_bytes(bytes(flipped))
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    return [truncated, corrupt, empty]


def test_truncated_and_corrupt_checkpoints_are_refused_by_name(tmp_path):
    _, _, saver = trained("sgd", SETTINGS, tmp_path)
    for bad in bad_copies(tmp_path, saver.paths[-1]):
        with pytest.raises(CheckpointError, match=f"{bad}.*truncated or corrupt"):
            checkpoint.load(bad)


def test_foreign_checkpoints_are_refused_with_the_reason(tmp_path):
    _, _, saver = trained("sgd", SETTINGS, tmp_path)
    loaded = checkpoint.load(saver.paths[5])
    path = saver.paths[5]
    checkpoint.check(loaded, "cafe", "float32", 15, path)
    with pytest.raises(CheckpointError, match="belongs to another config"):
        checkpoint.check(loaded, "beef", "float32", 15, path)
    with pytest.raises(CheckpointError, match="holds float32 arrays, this run is float64"):
        checkpoint.check(loaded, "cafe", "float64", 15, path)
    with pytest.raises(CheckpointError, match="at iteration 6, beyond this run's last"):
        checkpoint.check(loaded, "cafe", "float32", 5, path)
    loaded.engine = "cnnsweep 0.0.1"
    with pytest.raises(CheckpointError, match=r"written by cnnsweep 0\.0\.1"):
        checkpoint.check(loaded, "cafe", "float32", 15, path)
    net, opt, _ = setup("adam")  # another optimizer's state
    with pytest.raises(CheckpointError, match="counters"):
        checkpoint.restore(checkpoint.load(path), net, opt)


def test_a_full_disk_while_saving_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    net, result, saver = trained("adam", SETTINGS, tmp_path)
    target = tmp_path / "checkpoint.npz"
    checkpoint.save(target, net, make_optimizer("adam"), checkpoint.load(saver.paths[4]).state,
                    OWNER)
    before = target.read_bytes()

    def full(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.save(target, net, make_optimizer("adam"), result_state(saver), OWNER)
    assert target.read_bytes() == before and checkpoint.load(target).iteration == 5
    assert not list(tmp_path.glob(".*.tmp"))


def result_state(saver):
    return checkpoint.load(saver.paths[-1]).state


def test_find_start_prefers_the_own_checkpoint_then_the_furthest_shorter_finished_run(tmp_path):
    from cnnsweep import runfolder

    net, result, saver = trained("sgd", SETTINGS, tmp_path)
    config = {"trainer": {"epochs": 3, "dtype": "float32"}, "seed": 0}
    digest = runfolder.continuation_hash(config)
    owner = Owner("x", digest, "float32", "")
    sweep = tmp_path / "sweep"

    def finished(name, iteration, status="ok", continuation=digest):
        run = sweep / name
        (run / ".hydra").mkdir(parents=True)
        (run / runfolder.CONFIG).write_text("{}")
        state = checkpoint.load(saver.paths[iteration - 1]).state
        checkpoint.save(run / runfolder.CHECKPOINT, net, make_optimizer("sgd"), state,
                        Owner("x", continuation, "float32", name))
        runfolder.write_summary(run, runfolder.Summary(
            runfolder.Status(status), name, iterations=iteration,
            continuation_hash=continuation))

    finished("three", 3)
    finished("nine", 9)
    finished("twelve", 12)
    finished("failed", 10, status="failed")
    finished("other", 11, continuation="another")
    new = sweep / "new"
    new.mkdir()

    def start(total, extend=True):
        found = checkpoint.find_start(new, config, total, extend=extend)
        return None if found is None else (found[1].parent.name, found[0].iteration)

    assert start(15) == ("twelve", 12)
    assert start(10) == ("nine", 9)
    assert start(2) is None
    assert start(15, extend=False) is None
    checkpoint.save(new / runfolder.CHECKPOINT, net, make_optimizer("sgd"),
                    checkpoint.load(saver.paths[4]).state, owner)
    assert start(15) == ("new", 5)  # its own checkpoint first
    (new / runfolder.CHECKPOINT).write_bytes(b"garbage")
    ignored = []
    assert checkpoint.find_start(new, config, 15, ignored.append) is not None
    assert len(ignored) == 1 and "truncated or corrupt" in ignored[0]
