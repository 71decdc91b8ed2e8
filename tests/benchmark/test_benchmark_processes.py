"""The whole-process benchmark: process measurement, page-cache eviction, configuration, the peer
venv, the report and a complete tiny run with stand-in commands (no TensorFlow, no timing asserts
beyond what the stand-ins do on purpose)."""

from __future__ import annotations

import math
import os
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from RMBG.benchmark import BenchmarkConfig, CommandSpec, default_commands, mask_agreement, run_benchmark
from RMBG.benchmark.machine import parse_lscpu
from RMBG.benchmark.pagecache import FileSet
from RMBG.benchmark.peer_env import RembgPeer, require_rembg_peer
from RMBG.benchmark.photos import make_megapixel_set
from RMBG.benchmark.process import measure_process
from RMBG.benchmark.report import target_values, targets_table

#: A stand-in for `remove`: an RGBA cutout of every photo whose alpha is "brighter than grey";
#: with "invert" the left third of the mask is inverted (so its IoU against the other is < 1);
#: with "same" it logs an engine choice the way `--backend auto` does.
FAKE_REMOVE = textwrap.dedent('''
    import sys
    from pathlib import Path
    import numpy as np
    from PIL import Image
    source, target, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    if mode == "same":
        print("INFO RMBG.runtime.select: backend auto -> fake fp32: 1 ms/image when built", file=sys.stderr)
    for path in sorted(source.glob("*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        alpha = np.where(rgb.mean(axis=2) > 127, 255, 0).astype(np.uint8)
        if mode == "invert":
            alpha[:, : alpha.shape[1] // 3] = 255 - alpha[:, : alpha.shape[1] // 3]
        Image.fromarray(np.dstack([rgb, alpha])).save(target / (path.stem + ".png"))
''')


def _photos(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        gradient = np.linspace(0, 255, 96, dtype=np.float32)[None, :, None] * np.ones((64, 1, 3), np.float32)
        noise = rng.normal(0, 20, (64, 96, 3))
        Image.fromarray(np.clip(gradient + noise, 0, 255).astype(np.uint8)).save(folder / f"photo{index}.jpg", quality=95)
    return folder


def test_measure_process_reports_cpu_memory_and_first_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    script = textwrap.dedent(f'''
        import os, time
        block = bytearray(150_000_000)           # touched below: resident
        for i in range(0, len(block), 4096):
            block[i] = 1
        end = time.process_time() + 0.3           # 0.3 s of CPU
        while time.process_time() < end:
            pass
        time.sleep(0.3)
        open(r"{out}/.b.png.part", "wb").write(b"x")   # a temporary name is not an output
        time.sleep(0.3)
        open(r"{out}/a.png", "wb").write(b"x")
        time.sleep(0.3)
        os.replace(r"{out}/.b.png.part", r"{out}/b.png")
    ''')
    result = measure_process([sys.executable, "-c", script], output_dir=out, log_path=tmp_path / "log.txt", poll_s=0.01)
    assert result.returncode == 0 and result.outputs == 2
    assert result.peak_rss_mb >= 150
    assert result.cpu_s >= 0.28
    # the first output appears after >= 0.3 s CPU + 0.6 s sleeps, and at least 0.3 s before the end
    assert 0.85 <= result.first_output_s <= result.wall_s - 0.25
    assert result.wall_s >= 1.1


def test_measure_process_kills_on_timeout_and_reports_failures(tmp_path):
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match="killed"):
        measure_process([sys.executable, "-c", "import time; time.sleep(30)"], output_dir=tmp_path, log_path=tmp_path / "a.log",
                        timeout=0.5)
    assert time.perf_counter() - start < 10
    failed = measure_process([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], output_dir=tmp_path / "none",
                             log_path=tmp_path / "b.log")
    assert failed.returncode == 3 and failed.outputs == 0 and math.isnan(failed.first_output_s)
    assert "boom" in (tmp_path / "b.log").read_text()
    with pytest.raises(RuntimeError, match="cannot start"):
        measure_process(["/no/such/program"], output_dir=tmp_path, log_path=tmp_path / "c.log")


def test_peak_rss_is_the_command_own_not_the_benchmark_s(tmp_path):
    ballast = bytearray(400_000_000)  # this process's peak RSS must not leak into the child's ru_maxrss
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    result = measure_process([sys.executable, "-c", "pass"], output_dir=tmp_path, log_path=tmp_path / "log.txt")
    del ballast
    assert result.returncode == 0 and result.peak_rss_mb < 100


def _filesystem(path: Path) -> str:
    best, kind = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        if str(path.resolve()).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


def test_eviction_drops_a_file_from_the_page_cache(tmp_path):
    if _filesystem(tmp_path) in ("tmpfs", "ramfs", ""):
        pytest.skip(f"{tmp_path} is on {_filesystem(tmp_path) or 'an unknown filesystem'}: its pages live only in memory")
    path = tmp_path / "data.bin"
    with open(path, "wb") as handle:
        handle.write(os.urandom(8 * 2**20))
        handle.flush()
        os.fsync(handle.fileno())  # dirty pages cannot be dropped
    path.read_bytes()
    files = FileSet([tmp_path])
    assert files.resident(min_size=0).resident_fraction > 0.9
    state = files.evict()
    assert state.files == 1 and state.bytes == 8 * 2**20
    assert files.resident(min_size=0).resident_fraction < 0.1


def test_commands_render_and_parse():
    rembg = {c.name: c for c in default_commands()}["rembg"]
    argv = rembg.render({"{rembg}": "/p/bin/rembg", "{rembg_model_json}": '{"model_path": "/m/u2netp.onnx"}',
                         "{input}": "in", "{output}": "out"})
    assert argv == ["/p/bin/rembg", "p", "-m", "u2net_custom", "-x", '{"model_path": "/m/u2netp.onnx"}', "in", "out"]
    with pytest.raises(KeyError, match="rembg"):
        rembg.render({"{input}": "in", "{output}": "out"})
    parsed = CommandSpec.parse("fast={python} -m RMBG remove -i {input} -o {output} --backend 'onnxruntime'")
    assert parsed.name == "fast" and parsed.argv[-1] == "onnxruntime" and parsed.tool == "RMBG"
    assert CommandSpec.parse("peer={rembg} p {input} {output}").tool == "rembg"
    with pytest.raises(ValueError, match="NAME="):
        CommandSpec.parse("no equals sign")


def test_config_checks_its_values():
    with pytest.raises(ValueError, match="sections"):
        BenchmarkConfig("out", sections=("processes", "nope"))
    with pytest.raises(ValueError, match="conditions"):
        BenchmarkConfig("out", conditions=("tepid",))
    with pytest.raises(ValueError, match="unique"):
        BenchmarkConfig("out", commands=default_commands()[:1] * 2)
    quick = BenchmarkConfig.quick("out")
    assert quick.repeats == 1 and quick.conditions == ("warm",) and "serve" not in quick.sections
    assert {c.name for c in quick.commands} == {"rmbg-default", "rmbg-keras"}
    with pytest.raises(KeyError, match="no command named"):
        quick.command("rembg")


def test_lscpu_flags_and_amx():
    text = "Architecture: x86_64\nModel name: Intel(R) Xeon(R) Platinum 8488C\nFlags: fpu avx2 fma avx512f amx_tile amx_bf16\n"
    model, flags = parse_lscpu(text)
    assert model == "Intel(R) Xeon(R) Platinum 8488C" and flags == ("avx2", "fma", "avx512f", "amx_tile", "amx_bf16")
    assert parse_lscpu("model name\t: AMD EPYC\nflags\t\t: avx2 avx512_bf16\n") == ("AMD EPYC", ("avx2", "avx512_bf16"))


def test_peer_venv_missing_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="install_peers.sh"):
        require_rembg_peer(tmp_path / "peer")
    peer = RembgPeer(tmp_path / "peer")
    weights = tmp_path / "u2netp.onnx"
    weights.write_bytes(b"onnx")
    link = peer.model_path(weights)
    assert link.parent == peer.models and link.is_symlink() and link.resolve() == weights.resolve()
    assert peer.model_path(weights) == link  # idempotent
    (peer.root / "lib" / "python3.11" / "site-packages" / "rembg-2.0.86.dist-info").mkdir(parents=True)
    assert peer.version() == "2.0.86"


def test_megapixel_set_is_cached_and_keeps_the_aspect_ratio(tmp_path):
    (photo,) = sorted(_photos(tmp_path / "in", 1).glob("*.jpg"))
    (path,) = make_megapixel_set([photo], 0.05, tmp_path / "cache")
    with Image.open(path) as image:
        assert abs(image.width * image.height - 50_000) < 500
        assert image.width / image.height == pytest.approx(96 / 64, rel=0.01)
    stamp = path.stat().st_mtime_ns
    assert make_megapixel_set([photo], 0.05, tmp_path / "cache") == [path] and path.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="megapixels"):
        make_megapixel_set([photo], 0, tmp_path / "cache")


def test_mask_agreement_by_hand():
    a = np.array([[0.9, 0.9], [0.1, 0.1]], np.float32)
    b = np.array([[0.9, 0.1], [0.1, 0.1]], np.float32)
    iou, mad = mask_agreement(a, b)
    assert iou == pytest.approx(0.5) and mad == pytest.approx(0.2)
    assert mask_agreement(np.zeros((2, 2)), np.zeros((2, 2))) == (1.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        mask_agreement(a, b[:1])


def test_targets_met_missed_and_not_measured():
    values = target_values(None, None, {"idle_rss_mb": 450.0}, "rmbg-default")
    table = targets_table({**values, "ratio_cold": 2.1, "iou_min": 0.95}).set_index("target")
    met = table["met"].to_dict()
    assert met["default command >= 2.0x rembg whole-process wall, photos, cold"] == "yes"
    assert met["masks IoU >= 0.99 vs Keras fp32 on every photo (min over photos)"] == "**no**"
    assert met["server idle RSS <= 400 MB"] == "**no**"
    assert met["peak RSS <= 1.2 GB on one 24 MP photo"] == "not measured"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    photos = _photos(root / "photos")
    script = root / "fake_remove.py"
    script.write_text(FAKE_REMOVE)
    commands = (
        CommandSpec("ref", ("{python}", str(script), "{input}", "{output}", "same")),
        CommandSpec("fast", ("{python}", str(script), "{input}", "{output}", "same")),
        CommandSpec("other", ("{python}", str(script), "{input}", "{output}", "invert")),
        CommandSpec("missing", ("{python}", "-c", "pass"), requires="no_such_module_here"),
    )
    config = BenchmarkConfig(root / "out", photos=photos, sections=("processes", "megapixels"), commands=commands,
                             reference="ref", default_command="fast", baseline="other", repeats=2,
                             megapixels=(0.02,), mp_commands=("ref", "fast"), photo_cache=root / "cache", evict=[photos])
    return config, run_benchmark(config)


def test_tiny_run_measures_every_command_cold_and_warm(tiny_run):
    _config, results = tiny_run
    assert results["errors"] == []
    assert results["skipped"] == ["missing: not run: no_such_module_here is not installed in " + sys.prefix]
    runs = results["runs"]
    photos_runs = runs[runs.section == "photos"]
    assert len(photos_runs) == 3 * 2 * 2 and (photos_runs.status == "ok").all() and (photos_runs.outputs == 2).all()
    assert (photos_runs.first_output_s <= photos_runs.wall_s).all() and (photos_runs.peak_rss_mb > 0).all()
    assert photos_runs[photos_runs.condition == "cold"]["cached_after_evict_mb"].notna().all()
    table = results["processes"].set_index(["command", "condition"])
    assert table.loc[("other", "warm"), "ratio_to_baseline"] == pytest.approx(1.0)
    assert table.loc[("fast", "cold"), "ratio_to_baseline"] > 0
    assert table.loc[("fast", "warm"), "iou_min"] == 1.0 and table.loc[("fast", "warm"), "mad_mean"] == 0.0
    assert table.loc[("other", "warm"), "iou_min"] < 0.99
    assert (table["runs"] == 2).all() and set(table["cpu"]) == {results["machine"].cpu}
    assert table.loc[("fast", "cold"), "engine"] == "fake fp32" and table.loc[("other", "cold"), "engine"] == ""


def test_tiny_run_per_photo_size_and_files(tiny_run):
    config, results = tiny_run
    mp = results["megapixels"].set_index("command")
    assert set(mp.index) == {"ref", "fast"} and (mp["megapixels"] == 0.02).all() and (mp["photos"] == 1).all()
    assert mp.loc["fast", "iou_min"] == 1.0
    targets = results["targets"].set_index("target")["met"]
    assert targets["masks IoU >= 0.99 vs Keras fp32 on every photo (min over photos)"] == "yes"
    assert targets["server idle RSS <= 400 MB"] == "not measured"
    names = {p.name for p in results["files"]}
    assert {"processes.csv", "megapixels.csv", "runs.csv", "iou.csv", "targets.csv", "machine.csv", "summary.md",
            "processes.png", "megapixels.png"} <= names
    summary = (config.output / "summary.md").read_text()
    assert results["machine"].cpu in summary and "| fast | fake fp32 | cold |" in summary
    assert sorted(p.name for p in (config.output / "outputs" / "fast").iterdir()) == ["photo0.png", "photo1.png"]


def test_the_package_imports_no_engine():
    import subprocess

    code = ("import sys, RMBG.benchmark, RMBG.benchmark.cli, RMBG.benchmark.runner; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'onnxruntime', 'openvino') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
