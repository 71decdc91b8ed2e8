"""What a benchmark run measures: the whole-process commands, the photo sets and the optional
in-process sections. Pure data; imports neither TensorFlow nor onnxruntime."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

#: Backends and precisions the in-process model-latency section knows how to measure on a CPU.
MODEL_BACKENDS = ("keras", "onnxruntime", "openvino", "tflite", "pytorch")
PRECISIONS = ("float32", "bfloat16", "float16")
UNSUPPORTED = {
    ("onnxruntime", "bfloat16"): "onnxruntime's CPU provider has no bfloat16 convolution kernels on x86",
    ("onnxruntime", "float16"): "onnxruntime's CPU provider has no float16 convolution kernels on x86 (casts around every op)",
    ("tflite", "bfloat16"): "TFLite has no bfloat16 weights",
    ("openvino", "float16"): "OpenVINO's CPU plugin computes float16 natively only on CPUs with AVX512-FP16/AMX-FP16 (opt-in)",
    ("pytorch", "bfloat16"): "only the float32 reference is measured for the PyTorch peer",
    ("pytorch", "float16"): "only the float32 reference is measured for the PyTorch peer",
}
#: The placeholders a command line may hold (replaced literally, so JSON braces stay as they are).
PLACEHOLDERS = ("{python}", "{input}", "{output}", "{rembg}", "{rembg_model_json}")
CONDITIONS = ("cold", "warm")
SECTIONS = ("processes", "megapixels", "serve", "model", "stages")


@dataclass(frozen=True)
class CommandSpec:
    """One whole-process command of the benchmark.

    Attributes:
        name: row label (``rmbg-default``, ``rembg``...), unique in a run.
        argv: the command line, with placeholders from :data:`PLACEHOLDERS`: ``{python}`` is the
            interpreter running the benchmark, ``{input}``/``{output}`` the photo and output
            folders, ``{rembg}`` the peer venv's ``rembg`` executable and ``{rembg_model_json}``
            ``{"model_path": "<the official u2netp.onnx in the peer's model folder>"}``.
        tool: ``RMBG`` or ``rembg`` (a rembg command needs the peer venv, see :mod:`RMBG.benchmark.peer_env`).
        requires: a module our interpreter must have for the command to make sense (``openvino``);
            without it the row is listed as not run, with the reason.
    """

    name: str
    argv: tuple[str, ...]
    tool: str = "RMBG"
    requires: str | None = None

    def render(self, values: Mapping[str, str]) -> list[str]:
        """The command line with every placeholder of ``values`` replaced.

        Raises:
            KeyError: the command holds a placeholder ``values`` lacks.
        """
        rendered = []
        for part in self.argv:
            for token in PLACEHOLDERS:
                if token in part:
                    if token not in values:
                        raise KeyError(f"command {self.name!r}: no value for the placeholder {token} in {part!r}")
                    part = part.replace(token, values[token])
            rendered.append(part)
        return rendered

    @classmethod
    def parse(cls, text: str) -> "CommandSpec":
        """``NAME=command line`` (shell quoting) → a command; ``rembg`` in the executable's place marks a rembg row.

        Raises:
            ValueError: no ``=``, an empty name or an empty command line.
        """
        name, sep, line = text.partition("=")
        argv = tuple(shlex.split(line))
        if not sep or not name.strip() or not argv:
            raise ValueError(f"--command: expected NAME='command line with {{input}} and {{output}}', got {text!r}")
        return cls(name.strip(), argv, tool="rembg" if argv[0] == "{rembg}" else "RMBG")


def rmbg_remove(name: str, *extra: str, requires: str | None = None) -> CommandSpec:
    """``python -m RMBG remove -i {input} -o {output} <extra>`` as a command named ``name``."""
    return CommandSpec(name, ("{python}", "-m", "RMBG", "remove", "-i", "{input}", "-o", "{output}", *extra), requires=requires)


REMBG_COMMAND = CommandSpec("rembg", ("{rembg}", "p", "-m", "u2net_custom", "-x", "{rembg_model_json}", "{input}", "{output}"),
                            tool="rembg")


def default_commands() -> tuple[CommandSpec, ...]:
    """Our default command (whatever ``remove``'s default backend is), every backend, and rembg."""
    return (
        rmbg_remove("rmbg-default"),
        rmbg_remove("rmbg-keras", "--backend", "keras"),
        rmbg_remove("rmbg-onnxruntime", "--backend", "onnxruntime"),
        rmbg_remove("rmbg-openvino", "--backend", "openvino", requires="openvino"),
        REMBG_COMMAND,
    )


@dataclass(frozen=True)
class ModelCase:
    """One model-latency measurement (in-process, ``model`` section).

    Attributes:
        backend: ``keras``, ``onnxruntime``, ``openvino`` (both through :mod:`RMBG.runtime`), ``tflite``
            or ``pytorch`` (u2net-fast's U2NETP).
        precision: ``float32``, ``bfloat16`` (Keras ``mixed_bfloat16``; OpenVINO ``bf16``) or ``float16``
            (TFLite float16 weights on CPU; Keras ``mixed_float16`` on a GPU).
        image_size: the model's square input size.
        batch_size: images per call.
        threads: intra-op threads (``None``: the backend's default).
    """

    backend: str
    precision: str = "float32"
    image_size: int = 320
    batch_size: int = 1
    threads: int | None = None

    @property
    def label(self) -> str:
        threads = f" t{self.threads}" if self.threads else ""
        return f"{self.backend} {self.precision} {self.image_size}px b{self.batch_size}{threads}"

    def unsupported_reason(self, gpu: bool = False) -> str | None:
        """Why this case cannot be measured here, or ``None``."""
        if self.backend not in MODEL_BACKENDS:
            return f"unknown backend {self.backend!r}"
        if self.precision not in PRECISIONS:
            return f"unknown precision {self.precision!r}"
        if (self.backend, self.precision) == ("keras", "float16") and not gpu:
            return "float16 compute needs a GPU (none visible to TensorFlow)"
        return UNSUPPORTED.get((self.backend, self.precision))


@dataclass
class BenchmarkConfig:
    """What :func:`RMBG.benchmark.run_benchmark` measures (``python -m RMBG benchmark --help``).

    Attributes:
        output: folder for CSV files, plots, the summary, logs and the kept outputs.
        photos: folder of photos (default: the 18 real photos of ``$RMBG_ASSETS/u2net_testdata/images``).
        limit: use only the first ``limit`` photos.
        sections: which of :data:`SECTIONS` to run.
        commands: the whole-process commands (default :func:`default_commands`).
        reference: the command whose outputs are the Keras float32 masks every IoU is measured against.
        default_command: our default command (the target rows of the summary).
        baseline: the peer command the ratios are computed against.
        repeats: runs per command and condition; medians are reported.
        conditions: ``cold`` (the command's files dropped from the OS page cache first) and/or
            ``warm`` (right after a run of the same command); see ``docs/benchmarks.md``.
        megapixels: photo sizes of the ``megapixels`` section (photos upscaled from the real ones).
        mp_count: photos per megapixel size.
        mp_commands: the commands run on the megapixel photos (warm).
        photo_cache: where the upscaled photos are kept (default ``$RMBG_HOME/benchmark/photos``).
        serve_requests: requests sent to ``python -m RMBG serve`` after its idle RSS is read.
        peer_dir: the rembg venv (default ``$RMBG_HOME/peers/rembg-<version>``).
        install_peers: create the rembg venv when it is missing (else its rows fail with the command to run).
        peer_weights: the official ``u2netp.onnx`` rembg runs (default ``$RMBG_ASSETS/weights/u2netp.onnx``).
        evict: folders and files dropped from the page cache before a cold run (default
            :func:`RMBG.benchmark.pagecache.default_eviction_roots`).
        timeout: seconds allowed to each process.
        model: registry name (model and stages sections).
        backends, precisions, sizes, batches, threads: the model-latency grid.
        e2e_size: the model's input size in the stage profile.
        stage_backend: our backend in the stage profile.
        files: exported files of the model section by :func:`export_key` (``{"onnx-320": path}``);
            the others are exported by a preparation subprocess.
    """

    output: Path
    photos: Path | None = None
    limit: int | None = None
    sections: Sequence[str] = ("processes", "megapixels", "serve")
    commands: Sequence[CommandSpec] = field(default_factory=default_commands)
    reference: str = "rmbg-keras"
    default_command: str = "rmbg-default"
    baseline: str = "rembg"
    repeats: int = 3
    conditions: Sequence[str] = CONDITIONS
    megapixels: Sequence[float] = (1, 4, 12, 24)
    mp_count: int = 1
    mp_commands: Sequence[str] = ("rmbg-default", "rembg")
    photo_cache: Path | None = None
    serve_requests: int = 3
    peer_dir: Path | None = None
    install_peers: bool = False
    peer_weights: Path | None = None
    evict: Sequence[Path] | None = None
    timeout: float = 900.0
    model: str = "u2netp"
    backends: Sequence[str] = ("keras", "onnxruntime", "openvino", "tflite")
    precisions: Sequence[str] = ("float32", "bfloat16", "float16")
    sizes: Sequence[int] = (320,)
    batches: Sequence[int] = (1, 4)
    threads: Sequence[int | None] = (None,)
    e2e_size: int = 320
    stage_backend: str = "onnxruntime"
    files: Mapping[str, str | os.PathLike] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        unknown = sorted(set(self.sections) - set(SECTIONS))
        if unknown:
            raise ValueError(f"sections: unknown {unknown}; expected some of {SECTIONS}")
        bad = sorted(set(self.conditions) - set(CONDITIONS))
        if bad:
            raise ValueError(f"conditions: unknown {bad}; expected some of {CONDITIONS}")
        names = [c.name for c in self.commands]
        if len(set(names)) != len(names):
            raise ValueError(f"commands: names must be unique, got {names}")
        if self.repeats < 1:
            raise ValueError(f"repeats: expected at least 1, got {self.repeats}")

    @classmethod
    def quick(cls, output: str | os.PathLike, **overrides: Any) -> "BenchmarkConfig":
        """The notebook smoke run: 2 photos, 1 warm run of the default and Keras commands, one 0.5 MP
        photo, no cold runs, no rembg, no server (well under a minute with a TensorFlow-free default)."""
        commands = tuple(c for c in default_commands() if c.name in ("rmbg-default", "rmbg-keras"))
        values: dict[str, Any] = dict(output=Path(output), limit=2, sections=("processes", "megapixels"), commands=commands,
                                      repeats=1, conditions=("warm",), megapixels=(0.5,), mp_commands=("rmbg-default",))
        values.update(overrides)
        return cls(**values)

    def command(self, name: str) -> CommandSpec:
        """The command named ``name``.

        Raises:
            KeyError: no such command in :attr:`commands`.
        """
        for command in self.commands:
            if command.name == name:
                return command
        raise KeyError(f"no command named {name!r}; the run has {[c.name for c in self.commands]}")

    def model_cases(self) -> list[ModelCase]:
        """Every model-latency case of the grid (including unsupported ones, reported as such)."""
        return [ModelCase(b, p, int(s), int(n), t) for b in self.backends for p in self.precisions for s in self.sizes
                for n in self.batches for t in self.threads]

    def without(self, *sections: str) -> "BenchmarkConfig":
        """A copy that skips ``sections``."""
        return replace(self, sections=tuple(s for s in self.sections if s not in sections))


def export_key(format: str, image_size: int, fp16: bool = False) -> str:
    """Key of an exported file in :attr:`BenchmarkConfig.files`: ``onnx-320``, ``tflite-320-fp16``..."""
    return f"{format}-{int(image_size)}{'-fp16' if fp16 else ''}"


def rembg_model_json(model_path: str | os.PathLike) -> str:
    """rembg's ``-x`` argument for ``u2net_custom``: ``{"model_path": "<path>"}``."""
    return json.dumps({"model_path": str(model_path)})
