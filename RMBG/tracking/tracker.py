"""One tracked run in MLflow: start (or resume), params, metrics, artefacts, the model, the end.

Every MLflow call goes through :meth:`Tracker._guard`: an exception becomes one
:class:`~RMBG.tracking.options.TrackingWarning` and the tracker turns itself off, so tracking can
never crash or stop the work it records.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from RMBG.atomic import atomic_write_bytes
from RMBG.tracking.options import STORE_ARTIFACTS, TrackingOptions, TrackingWarning, default_store

#: MLflow's limits per ``log_batch`` call and per parameter value.
_MAX_PARAMS, _MAX_METRICS, _MAX_PARAM_CHARS = 100, 1000, 6000


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as ``{"a.b": "value"}`` strings (lists and ``None`` as JSON)."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)
    return {k: v[:_MAX_PARAM_CHARS] for k, v in flat.items()}


class Tracker:
    """A run in an MLflow store, or a disabled tracker (``enabled`` false) that does nothing.

    Attributes:
        enabled: calls are recorded (false when tracking is off or has failed).
        run_id: the MLflow run id (``None`` when disabled from the start).
        tracking_uri: the store.
        resumed: the run existed before (a resumed training run).
    """

    def __init__(self, client: Any = None, run_id: str | None = None, tracking_uri: str | None = None,
                 resumed: bool = False):
        self.client, self.run_id, self.tracking_uri, self.resumed = client, run_id, tracking_uri, resumed
        self.enabled = client is not None and run_id is not None

    def _guard(self, what: str, action: Callable[[], Any]) -> Any:
        if not self.enabled:
            return None
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - tracking must never stop the run
            warnings.warn(
                f"tracking: {what} failed in MLflow at {self.tracking_uri} ({type(error).__name__}: {error}); "
                "the run goes on without tracking", TrackingWarning, stacklevel=3,
            )
            self.enabled = False
            return None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log (nested) settings as params. Params already in the run keep their value (MLflow
        refuses changes); a changed one is recorded as the tag ``changed_param.<name>``."""
        # deferred: optional (mlflow, the mlops extra) only with --track mlflow
        from mlflow.entities import Param, RunTag

        def action():
            flat = flatten(params)
            existing = self.client.get_run(self.run_id).data.params
            new = [Param(k, v) for k, v in flat.items() if k not in existing]
            changed = [RunTag(f"changed_param.{k}", v) for k, v in flat.items() if k in existing and existing[k] != v]
            for start in range(0, len(new), _MAX_PARAMS):
                self.client.log_batch(self.run_id, params=new[start:start + _MAX_PARAMS])
            if changed:
                self.client.log_batch(self.run_id, tags=changed)

        self._guard("logging params", action)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set run tags (values as text)."""
        from mlflow.entities import RunTag  # deferred: optional (mlflow, the mlops extra) only with --track mlflow

        self._guard("setting tags", lambda: self.client.log_batch(
            self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()]))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log numeric values at ``step`` (non-numeric values are skipped)."""
        from mlflow.entities import Metric  # deferred: optional (mlflow, the mlops extra) only with --track mlflow

        stamp = int(time.time() * 1000)
        entries = [Metric(k, float(v), stamp, int(step or 0)) for k, v in metrics.items() if _is_number(v)]

        def action():
            for start in range(0, len(entries), _MAX_METRICS):
                self.client.log_batch(self.run_id, metrics=entries[start:start + _MAX_METRICS])

        self._guard("logging metrics", action)

    def logged_steps(self, key: str) -> set[int]:
        """The steps at which ``key`` was logged in this run (empty when disabled)."""
        history = self._guard("reading metric history", lambda: self.client.get_metric_history(self.run_id, key))
        return {int(m.step) for m in history or ()}

    def log_artifacts(self, paths: Iterable[str | os.PathLike], artifact_path: str | None = None) -> None:
        """Upload files and folders (absent paths are skipped)."""
        for path in map(Path, paths):
            if path.is_dir():
                self._guard(f"uploading '{path}'", lambda p=path: self.client.log_artifacts(
                    self.run_id, str(p), f"{artifact_path}/{p.name}" if artifact_path else p.name))
            elif path.is_file():
                self._guard(f"uploading '{path}'", lambda p=path: self.client.log_artifact(self.run_id, str(p), artifact_path))

    def log_keras_model(self, checkpoint: str | os.PathLike, *, input_channels: int = 3,
                        output_size: tuple[int, int] | None = None, name: str = "model") -> None:
        """Log ``checkpoint`` (a ``.keras`` file) as the MLflow pyfunc model ``name`` of this run
        (:mod:`RMBG.tracking.pyfunc_model`); ``mlflow.pyfunc.load_model(f"runs:/{run_id}/{name}")``
        then predicts masks from float32 pixel values ``(N, H, W, input_channels)``."""
        self._guard("logging the model", lambda: _log_pyfunc(self, Path(checkpoint), input_channels, output_size, name))

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``) and turn the tracker off."""
        self._guard("ending the run", lambda: self.client.set_terminated(self.run_id, status))
        self.enabled = False


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)


def _log_pyfunc(tracker: Tracker, checkpoint: Path, channels: int, output_size, name: str) -> None:
    import mlflow  # deferred: optional (mlflow, the mlops extra) only with --track mlflow
    # deferred: optional (mlflow, the mlops extra) only with --track mlflow
    from mlflow.models.signature import ModelSignature
    # deferred: optional (mlflow, the mlops extra) only with --track mlflow
    from mlflow.types.schema import Schema, TensorSpec

    from RMBG.tracking import pyfunc_model  # deferred: pyfunc_model imports mlflow at its top; only with --track mlflow

    height, width = output_size or (-1, -1)
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1, -1, channels))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, height, width, 1))]),
    )
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracker.tracking_uri)
    try:
        with mlflow.start_run(run_id=tracker.run_id):
            mlflow.pyfunc.log_model(
                name=name, python_model=str(Path(pyfunc_model.__file__).with_name("model_code.py")),
                artifacts={"checkpoint": str(checkpoint)}, signature=signature,
                pip_requirements=pyfunc_model.requirements(),
            )
    finally:
        mlflow.set_tracking_uri(previous)


def _probe_http(uri: str) -> None:
    """Fail fast on an unreachable server (MLflow's own client would retry for minutes)."""
    with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as response:  # noqa: S310 - user's URI
        response.read(64)


def _client(options: TrackingOptions, output: str | os.PathLike) -> tuple[Any, str, str | None]:
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    uri, artifacts = default_store(output)
    if options.tracking_uri:
        uri, artifacts = options.tracking_uri, None
        if uri.startswith("sqlite:///"):
            artifacts = (Path(uri[len("sqlite:///"):]).expanduser().resolve().parent / STORE_ARTIFACTS).as_uri()
        if uri.startswith(("http://", "https://")):
            _probe_http(uri)
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        # deferred: optional (mlflow); the MLFLOW_* settings above precede it; absent → clear error below
        from mlflow.tracking import MlflowClient
    except ImportError as error:
        raise ImportError(f"{error}; install the tracking extra: pip install -e '.[mlops]' (or mlflow==3.17.2)") from None
    return MlflowClient(tracking_uri=uri), uri, artifacts


def _resume(client: Any, uri: str, state_file: Path | None) -> str | None:
    """The run id recorded in ``state_file`` if it is an active run of this store, else ``None``."""
    if state_file is None or not state_file.is_file():
        return None
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if state.get("tracking_uri") != uri:
        warnings.warn(
            f"tracking: '{state_file}' records run {state.get('run_id')} in {state.get('tracking_uri')}, not in {uri}; "
            "starting a new MLflow run", TrackingWarning, stacklevel=3,
        )
        return None
    run = client.get_run(state["run_id"])
    if run.info.lifecycle_stage != "active":
        warnings.warn(f"tracking: run {run.info.run_id} was deleted in {uri}; starting a new MLflow run",
                      TrackingWarning, stacklevel=3)
        return None
    client.update_run(run.info.run_id, status="RUNNING")
    return run.info.run_id


def start_tracker(
    options: TrackingOptions,
    *,
    output: str | os.PathLike,
    kind: str,
    run_name: str | None = None,
    state_file: str | os.PathLike | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Tracker:
    """Start (or resume) the MLflow run of a command; a disabled :class:`Tracker` when tracking is
    off or the store cannot be used (one :class:`TrackingWarning` says why).

    Args:
        options: ``--track`` / ``--tracking-uri`` / ``--experiment``.
        output: the run's output folder; the default store goes into its parent.
        kind: the command (``train``, ``evaluate``, ``export``, ``benchmark``): the default
            experiment ``rmbg-<kind>`` and the tag ``rmbg.command``.
        run_name: the MLflow run name (default: the output folder's name).
        state_file: a JSON file recording the run id; when it names an active run of the same
            store, that run continues (a resumed training run) instead of a new one.
        tags: more run tags.
    """
    if not options.enabled:
        return Tracker()
    state_path = Path(state_file) if state_file is not None else None
    uri = options.tracking_uri or default_store(output)[0]
    try:
        client, uri, artifact_location = _client(options, output)
        experiment_name = options.experiment or f"rmbg-{kind}"
        experiment = client.get_experiment_by_name(experiment_name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(
            experiment_name, artifact_location=artifact_location)
        run_id = _resume(client, uri, state_path)
        resumed = run_id is not None
        if run_id is None:
            all_tags = {"rmbg.command": kind, "mlflow.runName": run_name or Path(output).name, **(tags or {})}
            run_id = client.create_run(experiment_id, tags={k: str(v) for k, v in all_tags.items()}).info.run_id
        if state_path is not None:
            state = {"tracking_uri": uri, "experiment_id": experiment_id, "run_id": run_id}
            atomic_write_bytes(state_path, json.dumps(state, indent=2).encode("utf-8"))
    except Exception as error:  # noqa: BLE001 - an unusable store must not stop the run
        warnings.warn(
            f"tracking: cannot use the MLflow store {uri} ({type(error).__name__}: {error}); the {kind} run goes on "
            "without tracking. Check --tracking-uri (a server must be reachable, a local store writable).",
            TrackingWarning, stacklevel=2,
        )
        return Tracker()
    return Tracker(client, run_id, uri, resumed=resumed)
