"""The restricted .pth reader (RMBG.weights.torch_state): equal to torch.load on real torch.save files, and it never runs code."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

from RMBG.weights.torch_state import UnsafeCheckpointError, read_state_dict


class _Payload:
    """An object whose unpickling would call os.system: what a malicious checkpoint carries."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _zip_checkpoint(path, payload: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ckpt/data.pkl", payload)
        archive.writestr("ckpt/byteorder", "little")


def test_a_pickled_call_is_refused_without_running(tmp_path, monkeypatch):
    path = tmp_path / "evil.pth"
    _zip_checkpoint(path, pickle.dumps({"weight": _Payload()}, protocol=2))  # names posix.system
    calls = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command))  # would record a call
    with pytest.raises(UnsafeCheckpointError, match="asks for .*system"):
        read_state_dict(path)
    assert calls == []


def test_not_a_zip_and_not_a_state_dict(tmp_path):
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a zip-format PyTorch checkpoint"):
        read_state_dict(legacy)
    plain = tmp_path / "plain.pth"
    _zip_checkpoint(plain, pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ValueError, match="holds no tensors"):
        read_state_dict(plain)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_state_dict(tmp_path / "absent.pth")


def test_equals_torch_load(tmp_path):
    torch = pytest.importorskip("torch", reason="writing real checkpoints needs torch (pip install torch==2.13.0)")
    base = torch.randn(5, 6)
    state = {
        "conv.weight": torch.randn(4, 3, 3, 3),
        "transposed": base.t(),  # non-contiguous strides
        "row": base[2],  # a view with a storage offset, sharing the storage above
        "half": torch.randn(7).half(),
        "bf16": torch.randn(3).bfloat16(),
        "count": torch.tensor(12),
        "index": torch.arange(10).reshape(2, 5),
        "flag": torch.tensor([True, False]),
    }
    path = tmp_path / "state.pth"
    torch.save({"state_dict": state}, path)
    ours = read_state_dict(path)
    assert set(ours) == set(state)
    for key, value in state.items():
        expected = value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy()
        np.testing.assert_array_equal(ours[key], expected, err_msg=key)
        assert ours[key].shape == tuple(value.shape)
