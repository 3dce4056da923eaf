"""rnnkit.distributed: MPI data-parallel training held against single-process training on the
same global batches, and Dask (Ray where installed) batch inference held against
``model.predict`` of the whole set.

MPI runs happen in ``mpiexec -n 2`` subprocesses (tests/mpi_scripts/jobs.py) with a timeout, so
a hang fails the test instead of blocking; MPI never starts inside the pytest process.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import rnnkit
from rnnkit.distributed import ModelPredictor, predict_partitions, shard_bounds
from rnnkit.layers import GRU, LSTM, Dense, Embedding, Input

from conftest import require

SCRIPTS = Path(__file__).resolve().parent / "mpi_scripts"
JOBS = SCRIPTS / "jobs.py"
TIMEOUT = 120


def close(a: np.ndarray, b: np.ndarray, eps: float) -> bool:
    """DESIGN.md's "agree within eps": |a - b| <= eps * (1 + |b|) elementwise."""
    return bool(np.all(np.abs(a - b) <= eps * (1 + np.abs(b))))


def load_jobs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mpi_jobs", JOBS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mpiexec() -> str:
    """The mpiexec next to this Python (the mpich wheel's), else one on PATH."""
    require("mpi4py")
    found = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if found is None:
        if os.environ.get("RNNKIT_REQUIRE_EXTRAS") == "1":
            pytest.fail("mpiexec is required in CI (pip install 'rnnkit[dist]' brings mpich's)")
        pytest.skip("no mpiexec (pip install 'rnnkit[dist]')")
    return found


def run(args: list[str], cwd: Path, ranks: int | None = 2) -> subprocess.CompletedProcess:
    """``mpiexec -n ranks python args`` (plain python if ranks is None), killed whole on a
    timeout so that a hang fails the test."""
    command = [sys.executable, *args]
    if ranks is not None:
        command = [mpiexec(), "-n", str(ranks), *command]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{' '.join(command)} did not finish within {TIMEOUT} s (a hang)")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def job(name: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    result = run([str(JOBS), name, *args], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def rank_arrays(folder: Path, rank: int) -> dict[str, np.ndarray]:
    with np.load(folder / f"rank{rank}.npz") as data:
        return {k: data[k] for k in data.files}


# ---------------------------------------------------------------------------------------------
# Training on MPI
# ---------------------------------------------------------------------------------------------


def test_two_ranks_train_like_one_process_on_the_same_global_batches(tmp_path: Path) -> None:
    # Masked sequences, sample weights, shuffling, and global batches of 5 split 3|2 (2|1 for
    # the last): each rank weighs its gradient by its unmasked tokens.
    job("fit", tmp_path, str(tmp_path))
    ranks = [rank_arrays(tmp_path, r) for r in range(2)]
    jobs = load_jobs()
    oracle = jobs.build(jobs.ROOT_SEED)  # rank 0's seed: its weights and RNG must win
    losses = jobs.train(oracle, distributed=False)
    for i, want in enumerate(oracle.get_weights()):
        assert np.array_equal(ranks[0][f"w{i}"], ranks[1][f"w{i}"]), f"ranks differ at w{i}"
        assert close(ranks[0][f"w{i}"], want, 1e-5), f"w{i} differs from single-process"
    assert not np.array_equal(ranks[0]["w2"], jobs.build(jobs.ROOT_SEED).get_weights()[2])
    # The logged loss is the global batch's, as one process computes it.
    assert close(ranks[0]["loss"], np.array(losses), 1e-5)
    assert np.array_equal(ranks[0]["loss"], ranks[1]["loss"])
    # The two ranks share this machine: each got its own half of the cores, and as many threads.
    cores = [set(ranks[r]["cores"].tolist()) for r in range(2)]
    assert not cores[0] & cores[1] and cores[0] | cores[1] <= os.sched_getaffinity(0)
    assert [int(ranks[r]["threads"]) for r in range(2)] == [len(c) for c in cores]
    assert len(cores[0]) == len(os.sched_getaffinity(0)) // 2


def test_resume_on_rank_0_restores_every_rank_like_one_process(tmp_path: Path) -> None:
    # Adam's moments and step count come from the checkpoint, read by rank 0 alone.
    (tmp_path / "mpi").mkdir()
    job("resume", tmp_path, str(tmp_path / "mpi"))
    ranks = [rank_arrays(tmp_path / "mpi", r) for r in range(2)]
    oracle = load_jobs().resume_run(str(tmp_path), 0, distributed=False)
    for i, want in enumerate(oracle.get_weights()):
        assert np.array_equal(ranks[0][f"w{i}"], ranks[1][f"w{i}"]), f"ranks differ at w{i}"
        assert close(ranks[0][f"w{i}"], want, 1e-5), f"w{i} differs from single-process"


def test_uneven_shards_average_to_the_whole_batch_gradient(tmp_path: Path) -> None:
    job("gradient", tmp_path, str(tmp_path))
    jobs = load_jobs()
    model = jobs.build(jobs.ROOT_SEED)
    x, y, sw = jobs.data(7)
    _, want = model.compute_gradients(x, y, sample_weight=sw)
    for rank in range(2):
        got = rank_arrays(tmp_path, rank)
        for i, grad in enumerate(want):
            assert close(got[f"avg{i}"], grad, 1e-6), f"rank {rank} gradient {i}"
    # Weighting by examples instead of tokens is measurably wrong here: the test can fail.
    naive = rank_arrays(tmp_path, 0)
    assert max(float(np.max(np.abs(naive[f"examples{i}"] - g))) for i, g in enumerate(want)) > 1e-4


def test_stop_decided_on_rank_0_stops_every_rank_and_only_rank_0_checkpoints(
    tmp_path: Path,
) -> None:
    job("stop", tmp_path, str(tmp_path))
    ranks = [rank_arrays(tmp_path, r) for r in range(2)]
    assert len(ranks[0]["loss"]) == len(ranks[1]["loss"]) == 1
    written = sorted(p.name for p in tmp_path.glob("checkpoint-of-rank*"))
    assert written == ["checkpoint-of-rank0.rnnkit"]  # checkpoints are rank 0's to write
    assert all(np.array_equal(ranks[0][k], ranks[1][k]) for k in ranks[0] if k.startswith("w"))


def test_ranks_draw_their_own_dropout_masks_and_share_the_shuffle(tmp_path: Path) -> None:
    job("streams", tmp_path, str(tmp_path))
    ranks = [rank_arrays(tmp_path, r) for r in range(2)]
    # Within an epoch each rank has its own stream, split off after the shuffle is drawn...
    assert len(ranks[0]["draws"]) == 10
    assert not np.any(ranks[0]["draws"] == ranks[1]["draws"])
    # ... and after each epoch every rank continues rank 0's (the next epoch's shuffle).
    assert ranks[0]["after"] == ranks[1]["after"]
    assert all(np.array_equal(ranks[0][k], ranks[1][k]) for k in ranks[0] if k.startswith("w"))


def test_a_failing_rank_ends_every_rank_with_a_clear_message(tmp_path: Path) -> None:
    result = run([str(JOBS), "fail"], tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "rnnkit.distributed: rank 1 failed: RuntimeError: boom on purpose" in output


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("config", "model config"),
        ("version", "rnnkit version differs (rank 0: "),
        ("data", "steps per epoch differs (rank 0: 5, rank 1: 6)"),
    ],
)
def test_ranks_that_differ_are_refused_at_start_on_every_rank(
    tmp_path: Path, kind: str, named: str
) -> None:
    out = job("mismatch", tmp_path, kind).stdout  # the ranks' lines may interleave
    assert "rank 0 refused" in out and "rank 1 refused" in out, out
    assert out.count(named) == 2, out
    assert "trained" not in out


def test_one_rank_without_mpiexec_is_plain_fit(tmp_path: Path) -> None:
    require("mpi4py")
    result = run([str(JOBS), "single"], tmp_path, ranks=None)
    assert result.returncode == 0, result.stderr
    assert "one rank equals plain fit: True" in result.stdout
    assert "refused: gradient #0 is None" in result.stdout
    assert "refused: weight must be >= 0" in result.stdout


def test_without_mpi4py_the_error_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "import numpy as np, rnnkit\n"
        "from rnnkit.layers import Input, Dense\n"
        "m = rnnkit.Sequential([Input((3,)), Dense(1)]); m.compile('sgd', 'mse')\n"
        "try:\n"
        "    m.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0, distributed=True)\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    result = run(["-c", code], tmp_path, ranks=None)
    assert "ImportError:" in result.stdout and "rnnkit[dist]" in result.stdout, result.stderr


def test_cli_without_mpi4py_is_a_one_line_error_naming_the_extra(tmp_path: Path) -> None:
    (tmp_path / "corpus.txt").write_text("abc " * 100)
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "from rnnkit.cli import main\n"
        "sys.exit(main(['train-text', 'corpus.txt', '--distributed']))\n"
    )
    result = run(["-c", code], tmp_path, ranks=None)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--distributed" in lines[0] and "rnnkit[dist]" in lines[0], lines


def test_cli_train_text_distributed_then_resume(tmp_path: Path) -> None:
    (tmp_path / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog. " * 40)
    common = ["-m", "rnnkit", "train-text", "corpus.txt", "--distributed", "--units", "16"]
    common += ["--seq-len", "16", "--batch-size", "8", "--out", "m.rnnkit"]
    result = run([*common, "--epochs", "1"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("rnnkit train-text: corpus.txt") == 1  # rank 0 alone prints
    assert result.stdout.count("14/14 [") == 1  # one progress bar: 112 windows / 8 a step
    assert "2 ranks x 1 threads" in result.stdout  # 2 cores shared by 2 ranks
    assert (tmp_path / "m.rnnkit").exists() and (tmp_path / "m.rnnkit.ckpt").exists()
    resumed = run([*common, "--epochs", "2", "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "Epoch 2/2" in resumed.stdout and "Epoch 1/2" not in resumed.stdout
    assert rnnkit.load_model(str(tmp_path / "m.rnnkit")).tokenizer is not None


def test_cli_distributed_user_error_aborts_every_rank_with_one_line_each(tmp_path: Path) -> None:
    result = run(["-m", "rnnkit", "train-text", "missing.txt", "--distributed"], tmp_path)
    assert result.returncode != 0
    assert "rnnkit train-text: error on rank" in result.stderr
    assert "missing.txt" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10])
@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_shards_cover_the_batch_in_order_and_differ_by_at_most_one(n: int, ranks: int) -> None:
    bounds = [shard_bounds(n, r, ranks) for r in range(ranks)]
    assert [i for start, stop in bounds for i in range(start, stop)] == list(range(n))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


# ---------------------------------------------------------------------------------------------
# Batch inference
# ---------------------------------------------------------------------------------------------


def text_model() -> rnnkit.Sequential:
    rnnkit.utils.set_random_seed(3)
    return rnnkit.Sequential(
        [
            Input((None,), dtype="int32"),
            Embedding(20, 8, mask_zero=True),
            GRU(12),
            Dense(4, activation="softmax"),
        ]
    )


def token_data(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.integers(1, 20, (n, 15))
    x[np.arange(15)[None, :] >= rng.integers(1, 16, n)[:, None]] = 0
    return x


@pytest.fixture(scope="module")
def dask_client() -> Any:
    distributed = require("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_dask_partitions_give_exactly_model_predict(dask_client: Any) -> None:
    model, x = text_model(), token_data(203)
    want = model.predict(x, batch_size=16, verbose=0)
    got = predict_partitions(model, x, dask_client, batch_size=16, partition_size=50)
    assert np.array_equal(got, want)
    # One load per worker process, whatever the number of partitions (50 -> 64: 4 of them).
    from rnnkit.distributed import _inference

    loaded = dask_client.run(lambda: list(_inference._loaded))
    assert len(loaded) == 2 and all(len(keys) <= 1 for keys in loaded.values())
    assert sum(len(keys) for keys in loaded.values()) >= 1


def test_dask_workers_read_a_memmap_file_themselves(dask_client: Any, tmp_path: Path) -> None:
    from rnnkit.distributed import _inference

    model, x = text_model(), token_data(150)
    path = tmp_path / "tokens.int64"
    stored = np.memmap(path, dtype=x.dtype, mode="w+", shape=x.shape)
    stored[:] = x
    stored.flush()
    on_disk = np.memmap(path, dtype=x.dtype, mode="r", shape=x.shape)
    assert isinstance(_inference._rows(on_disk, 0, 10), _inference._FileRows)  # a name, no data
    assert isinstance(_inference._rows(on_disk[5:], 0, 10), np.ndarray)  # a view: its rows
    want = model.predict(x, batch_size=16, verbose=0)
    assert np.array_equal(predict_partitions(model, on_disk, dask_client, batch_size=16), want)
    assert np.array_equal(
        predict_partitions(model, on_disk[5:], dask_client, batch_size=16),
        model.predict(x[5:], batch_size=16, verbose=0),
    )


def test_dask_back_to_back_calls_with_one_model(dask_client: Any) -> None:
    # Each call ships the model under its own key. Under one content-hash key, a call could
    # scatter while the scheduler still released the last call's copy, and lose it ("lost
    # dependencies"; it failed CI once, about 1 run in 60 on a loaded 2-core host).
    model, x = text_model(), token_data(40)
    want = model.predict(x, batch_size=8, verbose=0)
    for _ in range(10):
        assert np.array_equal(predict_partitions(model, x, dask_client, batch_size=8), want)


def test_dask_partitions_multi_input_multi_output_and_empty(dask_client: Any) -> None:
    rnnkit.utils.set_random_seed(4)
    a, b = Input((None, 3)), Input((5,))
    h = LSTM(6)(a)
    model = rnnkit.Model([a, b], [Dense(2)(h), Dense(1)(b)])
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=(70, 9, 3)).astype(np.float32), rng.normal(size=(70, 5))]
    want = model.predict(xs, batch_size=8, verbose=0)
    got = predict_partitions(model, xs, dask_client, batch_size=8)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    empty = predict_partitions(text_model(), token_data(0), dask_client)
    assert empty.shape == (0, 4)


def test_predict_partitions_bad_arguments_are_named(dask_client: Any) -> None:
    model, x = text_model(), token_data(10)
    with pytest.raises(TypeError, match="client"):
        predict_partitions(model, x, None)
    with pytest.raises(ValueError, match="partition_size"):
        predict_partitions(model, x, dask_client, partition_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        predict_partitions(model, x, dask_client, batch_size=0)
    with pytest.raises(ValueError, match="different lengths"):
        predict_partitions(model, [x, x[:5]], dask_client)
    with pytest.raises(TypeError, match="model"):
        ModelPredictor("not a model")
    with pytest.raises(KeyError, match="input_column"):
        ModelPredictor(model)({"tokens": x})


def test_model_predictor_is_predict_on_arrays_and_column_batches() -> None:
    model, x = text_model(), token_data(40)
    predictor = ModelPredictor(model, batch_size=8, input_column="tokens")
    want = model.predict(x, batch_size=8, verbose=0)
    assert np.array_equal(predictor(x), want)
    out = predictor({"tokens": x, "id": np.arange(40)})
    assert np.array_equal(out["predictions"], want) and np.array_equal(out["id"], np.arange(40))


def test_ray_data_map_batches_gives_exactly_model_predict() -> None:
    ray = pytest.importorskip("ray")  # the one optional extra allowed to skip (not in [dist])
    from rnnkit.distributed import model_bytes

    model, x = text_model(), token_data(100)
    want = model.predict(x, batch_size=10, verbose=0)
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        dataset = ray.data.from_items([{"x": row} for row in x])
        predicted = dataset.map_batches(
            ModelPredictor,
            fn_constructor_args=(model_bytes(model), 10),
            batch_size=10,
            batch_format="numpy",
            concurrency=2,
        )
        got = np.stack([row["predictions"] for row in predicted.take_all()])
    finally:
        ray.shutdown()
    assert np.array_equal(got, want)
