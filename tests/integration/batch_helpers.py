"""Helpers for the batch endpoint tests (test_batch.py): input data, scoring drivers, Azure's
batch YAML, and job polling, output and marker reading (docs/batch.md).

Drivers record what they did as marker files under $AZUREML_BI_OUTPUT_PATH/markers/ (the job's
output folder, which every worker shares): one `init-<worker>.json` per init() and a `start-` and
an `end-<worker>-<n>.json` per run() call, each written to a temporary name and renamed into place
so that a worker killed mid-write leaves no half marker. `<worker>` is a random id drawn in init():
workers run in their own PID namespaces, where os.getpid() is the same small number in each.

Only the standard library here; the tests bring numpy, pandas and scikit-learn themselves.
"""

import json
import shutil
import subprocess
from pathlib import Path

from berth_helpers import BERTH, items_of, to_yaml, wait_until

ENDPOINT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json"
DEPLOYMENT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json"
JOB_TERMINAL = ("Completed", "Failed", "Canceled")

# --------------------------------------------------------------------------------------------
# Scoring drivers (Azure's batch contract: init(), run(mini_batch) -> list or DataFrame)

# Shared by every driver: the markers, and a barrier that holds a worker's first run() until
# BATCH_BARRIER workers have started one (so that a job able to run several workers at once
# does, whatever order their slow init()s finish in).
MARKERS = '''\
import glob
import json
import os
import time
import uuid

WORKER = None
SEQUENCE = 0  # markers written by this worker
RUNS = 0  # run() calls of this worker


def _markers():
    folder = os.path.join(os.environ["AZUREML_BI_OUTPUT_PATH"], "markers")
    os.makedirs(folder, exist_ok=True)
    return folder


def _mark(kind, **fields):
    global SEQUENCE
    SEQUENCE += 1
    name = f"{kind}-{WORKER}-{SEQUENCE:04d}.json"
    folder = _markers()
    record = {"kind": kind, "worker": WORKER, "pid": os.getpid(), "t": time.time(), **fields}
    tmp = os.path.join(folder, "." + name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.rename(tmp, os.path.join(folder, name))


def _init_markers():
    global WORKER
    WORKER = uuid.uuid4().hex[:12]
    _mark("init")


def _barrier():
    want = int(os.environ.get("BATCH_BARRIER", "0"))
    if want <= 1 or RUNS > 1:
        return
    deadline = time.time() + float(os.environ.get("BATCH_BARRIER_WAIT", "20"))
    while time.time() < deadline:
        workers = {os.path.basename(p).split("-")[1]
                   for p in glob.glob(os.path.join(_markers(), "start-*.json"))}
        if len(workers) >= want:
            return
        time.sleep(0.02)


def _begin(mini_batch):
    global RUNS
    RUNS += 1
    names = [os.path.basename(p) for p in mini_batch]
    _mark("start", files=names)
    _barrier()
    return names


def _end(names):
    _mark("end", files=names)
'''

# A scikit-learn model in $AZUREML_MODEL_DIR; each CSV gives one row: the file's name and the
# mean prediction over its rows (a DataFrame, so the output line is "<name> <prediction>").
SKLEARN_DRIVER = MARKERS + '''
import joblib
import pandas as pd

model = None


def init():
    global model
    _init_markers()
    [path] = glob.glob(os.path.join(os.environ["AZUREML_MODEL_DIR"], "**", "model.joblib"),
                       recursive=True)
    model = joblib.load(path)


def run(mini_batch):
    names = _begin(mini_batch)
    rows = []
    for path in mini_batch:
        frame = pd.read_csv(path)
        rows.append({"file_name": os.path.basename(path),
                     "prediction": float(model.predict(frame).mean())})
    time.sleep(float(os.environ.get("BATCH_SLEEP", "0")))
    _end(names)
    return pd.DataFrame(rows, columns=["file_name", "prediction"])
'''

# No third-party imports (a quick init()): each file holds an integer; its line is
# "<name> <2 x integer>". Behaviour chosen by environment variables:
#   BATCH_SLEEP          seconds each run() takes
#   BATCH_FAIL_MATCH     run() raises ValueError when a file name contains this
#   BATCH_FAIL_FIRST     "1": each mini-batch's first try raises (a marker remembers the try)
#   BATCH_HANG_MATCH     run() sleeps 60 s when a file name contains this
ECHO_DRIVER = MARKERS + '''

def init():
    _init_markers()


def run(mini_batch):
    names = _begin(mini_batch)
    hang = os.environ.get("BATCH_HANG_MATCH")
    if hang and any(hang in n for n in names):
        time.sleep(60)
    fail = os.environ.get("BATCH_FAIL_MATCH")
    if fail and any(fail in n for n in names):
        raise ValueError(f"cannot score {','.join(n for n in names if fail in n)} on purpose")
    if os.environ.get("BATCH_FAIL_FIRST") == "1":
        tries = os.path.join(_markers(), "tries")
        os.makedirs(tries, exist_ok=True)
        seen = os.path.join(tries, names[0])
        try:
            os.close(os.open(seen, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            first = True
        except FileExistsError:
            first = False
        if first:
            raise RuntimeError(f"first try of {names[0]} fails on purpose")
    time.sleep(float(os.environ.get("BATCH_SLEEP", "0")))
    out = []
    for path, name in zip(mini_batch, names):
        with open(path) as f:
            out.append(f"{name} {2 * int(f.read().strip())}")
    _end(names)
    return out
'''


# --------------------------------------------------------------------------------------------
# Input data


def write_number_files(folder, names, start=1):
    """One integer per file (the echo driver's input); returns {name: integer}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    values = {}
    for i, name in enumerate(names):
        values[name] = start + i
        (folder / name).write_text(f"{start + i}\n")
    return values


def echo_expected(values):
    return {name: 2 * v for name, v in values.items()}


# --------------------------------------------------------------------------------------------
# YAML and CLI setup


def write_batch_endpoint(directory, name, **fields):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"$schema": ENDPOINT_SCHEMA, "name": name, **fields}
    path = directory / f"batch-endpoint-{name}.yml"
    path.write_text(to_yaml(doc))
    return path


def write_batch_deployment(directory, name, endpoint, script=None, model_files=None,
                           settings=None, instance_count=None, compute=None, model=None,
                           extra=None):
    """`<directory>/<endpoint>-<name>/deployment.yml` with `code/score.py` (when `script`), and a
    `model/` folder holding `model_files` ({file name: source path or bytes}); `model` replaces
    the inline model entirely. Returns the YAML's path."""
    folder = Path(directory) / f"{endpoint}-{name}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    doc = {"$schema": DEPLOYMENT_SCHEMA, "name": name, "endpoint_name": endpoint,
           "type": "model"}
    if model is None:
        (folder / "model").mkdir()
        for file_name, source in (model_files or {"weights.txt": b"1\n"}).items():
            if isinstance(source, (bytes, bytearray)):
                (folder / "model" / file_name).write_bytes(source)
            else:
                shutil.copyfile(source, folder / "model" / file_name)
        model = {"name": f"{endpoint}-{name}-model", "path": "./model"}
    doc["model"] = model
    if script is not None:
        (folder / "code").mkdir()
        (folder / "code" / "score.py").write_text(script)
        doc["code_configuration"] = {"code": "./code", "scoring_script": "score.py"}
    if compute is not None:
        doc["compute"] = f"azureml:{compute}"
    if instance_count is not None:
        doc["resources"] = {"instance_count": instance_count}
    if settings is not None:
        doc["settings"] = settings
    doc.update(extra or {})
    path = folder / "deployment.yml"
    path.write_text(to_yaml(doc))
    return path


def create_batch_endpoint(d, directory, name, **fields):
    path = write_batch_endpoint(directory, name, **fields)
    return d.cli_json("batch-endpoint", "create", "-f", path)


def create_batch_deployment(d, directory, name, endpoint, set_default=False, **kwargs):
    path = write_batch_deployment(directory, name, endpoint, **kwargs)
    args = ["batch-deployment", "create", "-f", path, "-e", endpoint]
    if set_default:
        args.append("--set-default")
    d.cli(*args)
    return path


# --------------------------------------------------------------------------------------------
# Jobs


def invoke(d, endpoint, input_path, *flags, deployment=None):
    """`berth batch-endpoint invoke`; returns the job's name (printed alone on stdout)."""
    args = ["batch-endpoint", "invoke", "-n", endpoint, "--input", input_path, *flags]
    if deployment is not None:
        args += ["-d", deployment]
    cp = d.cli(*args)
    name = cp.stdout.strip()
    assert name and "\n" not in name and " " not in name, (
        f"invoke printed more than a job name:\n{cp.stdout}")
    return name


def job_view(d, name):
    """The job as GET /api/v1/jobs/{name} returns it (cheap enough to poll)."""
    return d.api_ok("GET", f"/api/v1/jobs/{name}")


def job_show(d, name):
    """The job as `berth job show -n NAME -o json` prints it."""
    return d.cli_json("job", "show", "-n", name, "-o", "json")


def job_names(d):
    return sorted(j["name"] for j in items_of(d.cli_json("job", "list", "-o", "json")))


def driver_log_tail(view, lines=40):
    folder = view.get("log_folder") if isinstance(view, dict) else None
    if not folder:
        return "(no log_folder)"
    path = Path(folder) / "azureml-logs" / "70_driver_log.txt"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"({path}: {e})"


def describe(view):
    return (f"job {view.get('name')}: status {view.get('status')}, error {view.get('error')!r}, "
            f"progress {json.dumps(view.get('progress'))}, errors "
            f"{json.dumps(view.get('errors'))[:1500]}\ndriver log:\n{driver_log_tail(view)}")


def wait_job(d, name, want=("Completed",), timeout=120, step=0.1):
    """Polls the job until it is terminal (or in `want`, when `want` holds a non-terminal state);
    fails with its view and driver log when it ends in another state or time runs out."""
    last = {}

    def check():
        view = job_view(d, name)
        last["view"] = view
        status = view.get("status")
        if status in want:
            return view
        if status in JOB_TERMINAL:
            raise AssertionError(f"expected {want}, got\n{describe(view)}")
        return None

    try:
        return wait_until(check, timeout=timeout, step=step, message=f"job {name} in {want}")
    except AssertionError as e:
        if "view" in last and "expected" not in str(e):
            raise AssertionError(f"{e}\n{describe(last['view'])}") from None
        raise


def download(d, name, destination, *flags):
    """`berth job download -n NAME --download-path DESTINATION [flags]`; returns the score
    output's folder (DESTINATION/named-outputs/score)."""
    d.cli("job", "download", "-n", name, "--download-path", destination, *flags)
    return Path(destination) / "named-outputs" / "score"


def prediction_lines(d, name, destination, file_name="predictions.csv"):
    folder = download(d, name, destination)
    path = folder / file_name
    assert path.is_file(), f"{path} missing; downloaded: {sorted(map(str, folder.rglob('*')))}"
    return path.read_text().splitlines()


def lines_by_file(lines):
    """Echo/sklearn output lines "<name> <value>" -> {name: [values as text]}."""
    out = {}
    for line in lines:
        name, _, value = line.partition(" ")
        out.setdefault(name, []).append(value)
    return out


def host_output_folder(d, view):
    """The job's score output on this host: outputs.score.path is a datastore URI, and the
    workspaceblobstore datastore is <data-dir>/datastores/workspaceblobstore/."""
    uri = view["outputs"]["score"]["path"]
    prefix = "azureml://datastores/"
    assert uri.startswith(prefix), uri
    store, _, rest = uri[len(prefix):].partition("/paths/")
    return d.data_dir / "datastores" / store / rest.strip("/")


def read_markers(folder):
    """Every marker under `folder`/markers, as dicts (temporary half-written ones skipped)."""
    out = []
    folder = Path(folder) / "markers"
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        out.append(json.loads(path.read_text()))
    return out


def max_overlap(markers):
    """The most run() calls that were in progress at the same moment (by distinct workers),
    from matching start and end markers."""
    events = []
    for m in markers:
        if m["kind"] == "start":
            events.append((m["t"], 1, m["worker"]))
        elif m["kind"] == "end":
            events.append((m["t"], -1, m["worker"]))
    events.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    running, best = set(), 0
    for _, delta, worker in events:
        if delta > 0:
            running.add(worker)
        else:
            running.discard(worker)
        best = max(best, len(running))
    return best


# --------------------------------------------------------------------------------------------
# Processes


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def batch_worker_pids(d):
    """Live processes of this berthd's instances that run the batch worker."""
    return [p for p in d.instance_pids() if "berth_runner.batch" in cmdline(p)]


def wait_no_workers(d, timeout=15):
    """Every instance process of this berthd gone (it runs no online deployment here, so every
    instance is a batch worker or its sandbox)."""
    wait_until(lambda: not d.instance_pids(), timeout=timeout, step=0.1,
               message="no batch worker process left")


def stream_pipe(d, name, timeout=120):
    """`berth job stream -n NAME` with stdout and stderr on pipes."""
    return subprocess.run([str(BERTH), "job", "stream", "-n", name], capture_output=True,
                          timeout=timeout, env=d.cli_env(), stdin=subprocess.DEVNULL)

