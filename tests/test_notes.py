"""`make notes`: every worked number of the lecture notes, recomputed by cnnlab's own code.

A row whose value differs from the notes' without a documented erratum fails here: either
cnnlab computes something wrong, or the notes have an erratum that docs/notes.md must explain.
"""

from pathlib import Path

import mlflow
import pytest
from support.in_process import run_pipeline

from cnnlab.analysis import notes
from cnnlab.analysis.notes import ERRATUM, MATCH, MISMATCH, Printed, Rows

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table() -> notes.NotesTable:
    return notes.recompute()


def test_every_worked_number_is_a_match_or_a_documented_erratum(table):
    assert not table.mismatches, "\n".join(map(str, table.mismatches))
    assert all(row.why for row in table.rows if row.status == ERRATUM)
    assert table.count(MATCH) >= 80 and table.count(ERRATUM) >= 15


def test_the_issues_errata_are_flagged(table):
    errata = {row.topic: row.cnnlab for row in table.rows if row.status == ERRATUM}
    assert errata["AlexNet conv1: 96 filters of 11x11x3"] == "34,944"
    assert errata["TOTAL memory"] == "15,237,608"  # the slide's 24M
    assert errata["with 1x1 bottlenecks: multiply-adds"] == "271,351,808"  # the slide's 358M
    assert errata["the summary's (n - p)/s + 1, on 7x7, 3x3, stride 1"] == "5"


def test_a_difference_without_an_erratum_is_a_mismatch():
    rows = Rows()
    rows.match("off by one", 35, 36)
    rows.match("within the printed digit", Printed.of("3.2M"), 3_211_264)
    rows.erratum("the erratum no longer applies", 24, 24, corrected=15, why="-")
    rows.erratum("cnnlab disagrees with the correction", 24, 16, corrected=15, why="-")
    rows.erratum("a real erratum", 24, 15, corrected=15, why="-")
    assert [row.status for row in rows.rows] == [MISMATCH, MATCH, MISMATCH, MISMATCH, ERRATUM]


@pytest.mark.parametrize(
    ("text", "value", "tolerance"),
    [
        ("34,848", 34_848, 0),  # a count is exact
        ("3.2M", 3.2e6, 0.05e6),
        ("800K", 800e3, 50e3),  # trailing zeros are not significant
        ("1072K", 1_072e3, 0.5e3),
        ("28%", 28, 0.5),
        ("61 MB", 61, 0.5),
    ],
)
def test_a_printed_number_agrees_to_half_its_last_significant_digit(text, value, tolerance):
    printed = Printed.of(text)
    assert (printed.value, printed.tolerance) == pytest.approx((value, tolerance))


def test_docs_hold_the_current_table(table):
    assert table.markdown() in (ROOT / "docs" / "notes.md").read_text()


def test_make_notes_prints_writes_and_logs_a_notes_run(
    table, monkeypatch, capsys, tmp_path, mlflow_dir
):
    monkeypatch.setattr(notes, "recompute", lambda: table)  # computed once, above
    uri = f"sqlite:///{mlflow_dir}/mlflow.db"
    status, stderr = run_pipeline(
        monkeypatch,
        "notes",
        f"tracking.uri={uri}",
        f"tracking.artifact_location={tmp_path}/artifacts",
        "tracking.experiment=notes-test",
        f"output={tmp_path}/notes.md",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert status == 0, stderr
    assert table.summary() in capsys.readouterr().out
    assert (tmp_path / "notes.md").read_text() == table.markdown()
    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(experiment_names=["notes-test"], output_format="list")
    assert run.info.status == "FINISHED" and run.data.tags["kind"] == "notes"
    assert run.data.metrics["rows_mismatch"] == 0
    assert run.data.metrics["rows_erratum"] == table.count(ERRATUM)
    logged = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes.md")
    assert logged == table.markdown()


def test_make_notes_exits_1_on_a_mismatch(monkeypatch, capsys, tmp_path):
    rows = Rows()
    rows.match("a wrong number", 35, 36)
    monkeypatch.setattr(notes, "recompute", lambda: notes.NotesTable(tuple(rows.rows)))
    status, _ = run_pipeline(
        monkeypatch,
        "notes",
        "log=false",
        f"output={tmp_path}/notes.md",
        f"hydra.run.dir={tmp_path}",
    )
    assert status == 1
    assert "MISMATCH  a wrong number" in capsys.readouterr().out
