"""`digitnet predict IMAGE_OR_FOLDER...` and `check --image` / `DigitChecker.py --image`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from digitnet.check import JSON_DECIMALS, Prediction
from digitnet.cli import check, cli
from digitnet.digit import image_to_digit
from digitnet.predict import DigitReading, ImagePrediction, find_images, preprocessed_paths

from synth import render_digit

JSON_ROUNDING = 0.5 * 10**-JSON_DECIMALS  # the most rounding JSON probabilities moves one

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(?P<path>.+): (?P<digit>\d) \((?P<p>\d+\.\d)%\)(?P<rest>.*)$")


def run(args, command=cli, **kwargs):
    return CliRunner().invoke(command, [str(a) for a in args], **kwargs)


def stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A folder of digits on paper (PNG, JPEG, RGBA), a text file, a blank page, a broken file."""
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(5)
    good = []
    for digit, name, mode in ((3, "b-three.png", "L"), (7, "a-seven.jpg", "RGB"), (0, "c-zero.png", "RGBA")):
        ink = render_digit(digit, rng, canvas=160)
        Image.fromarray(255 - ink).convert(mode).save(folder / name)
        good.append(folder / name)
    (folder / "notes.txt").write_text("not a picture\n")
    (folder / ".hidden.png").write_bytes(b"")
    bad = tmp_path_factory.mktemp("bad")
    Image.new("L", (200, 150), 250).save(bad / "blank.png")
    whole = (folder / "b-three.png").read_bytes()
    (bad / "broken.png").write_bytes(whole[: len(whole) // 2])  # a download cut short
    return {"folder": folder, "good": sorted(good), "blank": bad / "blank.png", "broken": bad / "broken.png"}


# --------------------------------------------------------------------------- lines


def test_one_line_per_picture_with_digit_and_probability(pictures, trained_model_path):
    result = run(["predict", *pictures["good"], "--model", trained_model_path])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line, path in zip(lines, pictures["good"], strict=True):
        match = LINE.match(line)
        assert match and match["path"] == str(path), line
        assert 0 < float(match["p"]) <= 100
    assert result.stderr == ""


def test_top_adds_the_next_candidates_in_order(pictures, trained_model_path):
    result = run(["predict", pictures["good"][0], "--top", "3", "--model", trained_model_path])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    shares = [float(p) for p in re.findall(r"\((\d+\.\d)%\)", line)]
    digits = re.findall(r"(\d) \(\d+\.\d%\)", line)
    assert ", then " in line and len(shares) == 3 and len(set(digits)) == 3
    assert shares == sorted(shares, reverse=True)


def test_top_out_of_range_is_a_usage_error(pictures, trained_model_path):
    result = run(["predict", pictures["good"][0], "--top", "11", "--model", trained_model_path])
    assert result.exit_code == 2


def test_json_output(pictures, trained_model_path):
    result = run(["predict", pictures["folder"], "--json", "--model", trained_model_path])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["path"] for r in records] == [str(p) for p in pictures["good"]]
    for record in records:
        assert {"path", "digit", "confidence", "probabilities"} <= set(record)
        probabilities = record["probabilities"]
        assert len(probabilities) == 10 and abs(sum(probabilities) - 1) <= 10 * JSON_ROUNDING
        assert all(round(p, JSON_DECIMALS) == p for p in probabilities)  # the same JSON from LiteRT or Keras
        assert record["digit"] == int(np.argmax(probabilities))
        assert record["confidence"] == pytest.approx(max(probabilities))
        assert record["unsure"] == (record["confidence"] < 0.5)


def test_json_and_lines_agree_with_the_shared_preprocessing(pictures, trained_model_path):
    from digitnet.check import predict_probabilities
    from digitnet.modelio import load_model

    path = pictures["good"][1]
    record = json.loads(run(["predict", path, "--json", "--model", trained_model_path]).stdout)[0]
    expected = predict_probabilities(load_model(trained_model_path), image_to_digit(path))[0]
    np.testing.assert_allclose(record["probabilities"], expected, rtol=0, atol=JSON_ROUNDING + 1e-9)


def test_folder_gives_its_pictures_sorted_and_skips_other_files(pictures):
    paths, failures = find_images([pictures["folder"]])
    assert paths == pictures["good"]  # notes.txt and the hidden file are not pictures to predict
    assert failures == []


def test_empty_folder_and_missing_path_are_failures(tmp_path):
    paths, failures = find_images([tmp_path, tmp_path / "nowhere.png"])
    assert paths == []
    assert "folder holds no image files" in failures[0].message
    assert failures[1].message == f"{tmp_path / 'nowhere.png'}: no such file or folder"


def test_unsure_predictions_are_flagged():
    probabilities = (0.4, 0.35, 0.25) + (0.0,) * 7
    result = ImagePrediction(
        "x.png",
        (DigitReading(Prediction(digit=0, confidence=0.4, probabilities=probabilities), np.zeros((28, 28), np.uint8)),),
    )
    assert result.unsure and "unsure" in result.line()
    assert result.as_json()["unsure"] is True
    assert result.line(2) == "x.png: 0 (40.0%), then 1 (35.0%)  [unsure: below 50%]"
    sure = ImagePrediction(
        "y.png", (DigitReading(Prediction(digit=1, confidence=0.9, probabilities=(0.1, 0.9) + (0.0,) * 8), None),)
    )
    assert sure.line() == "y.png: 1 (90.0%)"


# --------------------------------------------------------------------------- bad pictures among good ones


def test_bad_files_get_one_error_each_and_the_others_are_predicted(pictures, trained_model_path):
    args = [
        pictures["good"][0],
        pictures["broken"],
        pictures["blank"],
        pictures["good"][1],
        "--model",
        trained_model_path,
    ]
    result = run(["predict", *args])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert [LINE.match(line)["path"] for line in result.stdout.splitlines()] == [
        str(pictures["good"][0]),
        str(pictures["good"][1]),
    ]
    errors = stderr_lines(result)
    assert errors[0] == f"Error: {pictures['broken']}: is damaged or truncated (" + errors[0].split("(", 1)[1]
    assert errors[1] == f"Error: {pictures['blank']}: no ink found — is the page blank?"
    assert errors[2] == "Error: 2 of 4 inputs could not be predicted (see above)"


def test_an_unexpected_failure_on_one_picture_spares_the_others(pictures, trained_model_path, monkeypatch):
    import digitnet.predict

    real = digitnet.predict.read_picture
    broken = str(pictures["good"][1])

    def flaky(model, image, *, name, **kwargs):
        if name == broken:
            raise RuntimeError("boom")
        return real(model, image, name=name, **kwargs)

    monkeypatch.setattr(digitnet.predict, "read_picture", flaky)
    result = run(["predict", pictures["folder"], "--model", trained_model_path])
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2
    assert stderr_lines(result)[0] == f"Error: {broken}: could not be prepared (unexpected RuntimeError: boom)"


def test_missing_input_still_predicts_the_rest(pictures, trained_model_path, tmp_path):
    result = run(["predict", tmp_path / "typo.png", pictures["good"][2], "--json", "--model", trained_model_path])
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)) == 1
    assert stderr_lines(result)[0] == f"Error: {tmp_path / 'typo.png'}: no such file or folder"


def test_no_inputs_is_a_usage_error():
    assert run(["predict"]).exit_code == 2


def test_missing_model_is_one_clear_error(pictures, tmp_path):
    result = run(["predict", pictures["good"][0], "--model", tmp_path / "none.keras"])
    assert result.exit_code == 1
    lines = stderr_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"Error: {tmp_path / 'none.keras'}: no such model file")


# --------------------------------------------------------------------------- --save-preprocessed


def test_save_preprocessed_writes_the_28x28_image_the_model_saw(pictures, trained_model_path, tmp_path):
    out = tmp_path / "seen"
    result = run(["predict", pictures["folder"], "--save-preprocessed", out, "--model", trained_model_path])
    assert result.exit_code == 0, result.output
    for path in pictures["good"]:
        saved = Image.open(out / f"{path.stem}.png")
        assert saved.size == (28, 28) and saved.mode == "L"
        np.testing.assert_array_equal(np.asarray(saved), image_to_digit(path))
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{p.stem}.png" for p in pictures["good"])


def test_save_preprocessed_never_overwrites_an_input(tmp_path, trained_model_path):
    rng = np.random.default_rng(1)
    picture = tmp_path / "four.png"
    Image.fromarray(255 - render_digit(4, rng, canvas=120)).save(picture)
    other = tmp_path / "sub"
    other.mkdir()
    Image.fromarray(255 - render_digit(4, rng, canvas=120)).save(other / "four.jpg")
    before = picture.read_bytes()
    result = run(
        ["predict", picture, other / "four.jpg", "--save-preprocessed", tmp_path, "--model", trained_model_path]
    )
    assert result.exit_code == 0, result.output
    assert picture.read_bytes() == before
    assert (tmp_path / "four-2.png").exists() and (tmp_path / "four-3.png").exists()


def test_save_preprocessed_names_are_distinct(tmp_path):
    one = (DigitReading(None, None),)
    results = [ImagePrediction(p, one) for p in ("a/x.png", "b/x.png", "x.jpg")] + [ImagePrediction("c/x.png", one * 3)]
    names = [[p.name for p in paths] for paths in preprocessed_paths(results, tmp_path)]
    # A number's STEM-2.png would be the second x.png's name: its stem moves on instead.
    assert names == [["x.png"], ["x-2.png"], ["x-3.png"], ["x-2-1.png", "x-2-2.png", "x-2-3.png"]]


def test_save_preprocessed_into_a_folder_that_cannot_be_made(pictures, trained_model_path, tmp_path):
    target = tmp_path / "no" / "such" / "folder"
    result = run(["predict", pictures["good"][0], "--save-preprocessed", target, "--model", trained_model_path])
    assert result.exit_code == 1
    assert stderr_lines(result) == [
        f"Error: {target.parent}: folder does not exist; create it first or choose another --save-preprocessed"
    ]
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    result = run(["predict", pictures["good"][0], "--save-preprocessed", a_file, "--model", trained_model_path])
    assert result.exit_code == 1 and "is a file, not a folder" in result.stderr


# --------------------------------------------------------------------------- check --image


def test_check_image_prints_a_line_and_saves_the_figure(pictures, trained_model_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = pictures["good"][1]
    result = run(["check", "--image", path, "--model", trained_model_path])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.fullmatch(rf"{re.escape(str(path))}: predicted \d \(\d+\.\d%\)(  \[unsure: below 50%\])?", lines[0])
    assert "true" not in lines[0]
    figure = tmp_path / f"{path.stem}_prediction.png"
    assert lines[1] == f"figure: {figure.name}" and figure.exists()
    assert Image.open(figure).size[0] > 300


def test_check_image_with_plot_path_and_no_plot(pictures, trained_model_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(
        ["check", "--image", pictures["good"][0], "--plot", tmp_path / "mine.png", "--model", trained_model_path]
    )
    assert result.exit_code == 0 and (tmp_path / "mine.png").exists()
    result = run(["check", "--image", pictures["good"][0], "--no-plot", "--model", trained_model_path])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.png"]


def test_check_image_bad_picture_is_one_error_line(pictures, trained_model_path):
    for bad, words in (
        (pictures["blank"], "no ink found — is the page blank?"),
        (pictures["broken"], "is damaged or truncated"),
    ):
        result = run(["--image", bad, "--model", trained_model_path, "--no-plot"], command=check)
        assert result.exit_code == 1
        assert len(stderr_lines(result)) == 1 and words in result.stderr and str(bad) in result.stderr


def test_check_image_and_index_together_is_a_usage_error(pictures, trained_model_path):
    result = run(["check", "--image", pictures["good"][0], "--index", "3", "--model", trained_model_path])
    assert result.exit_code == 2 and "give --index or --image, not both" in result.stderr


def test_digitchecker_script_with_image(pictures, trained_model_path, tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "DigitChecker.py"),
            "--image",
            str(pictures["good"][2]),
            "--model",
            str(trained_model_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"{pictures['good'][2]}: predicted ")
    assert (tmp_path / "c-zero_prediction.png").exists()
    assert completed.stderr == ""
