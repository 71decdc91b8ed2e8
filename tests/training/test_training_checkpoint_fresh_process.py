"""A compiled checkpoint loads in a fresh process with ``RMBG.load_model`` (no custom_objects)."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np

import RMBG
from RMBG.training.losses import DeepSupervisionBCE
from RMBG.training.metrics import MaskMAE


def test_compiled_checkpoint_loads_in_a_fresh_process(tmp_path):
    model = RMBG.create_model("u2netp", image_size=(32, 32))
    # Eager: tracing U^2-NetP's train step costs ~60 s and is not what this test is about (the compiled
    # file's custom loss, metric and optimizer state loading without custom_objects).
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=DeepSupervisionBCE(), metrics=[MaskMAE()], run_eagerly=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    model.fit(x, (x[..., :1] > 127).astype("float32"), epochs=1, verbose=0)
    path = tmp_path / "best.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    script = (  # RMBG.load_model imports the RMBG modules the file names; no custom_objects
        "import sys, numpy as np, RMBG;"
        f"m = RMBG.load_model(r'{path}', cache=False);"
        f"x = np.load(r'{tmp_path / 'x.npy'}'); y = np.load(r'{tmp_path / 'y.npy'}');"
        "assert np.abs(m.predict(x, verbose=0) - y).max() < 1e-5; print('ok')"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
