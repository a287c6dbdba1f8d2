"""Every sample of the hand-written report corpus parses to its expected normalised values,
and every broken sample is refused with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtasts.errors import ReportError
from mtasts.report_extract import load_reports

CORPUS = Path(__file__).parent.parent / "corpus" / "reports"
SUFFIXES = (".json.gz", ".json", ".gz", ".zip", ".eml")


def stem(path: Path) -> str:
    for suffix in SUFFIXES:
        if path.name.endswith(suffix):
            return path.name.removesuffix(suffix)
    raise AssertionError(f"unexpected corpus file {path.name}")


SAMPLES = sorted(
    p for p in CORPUS.iterdir() if p.is_file() and p.name.endswith(SUFFIXES)
    and not p.name.endswith(".expected.json")
)  # fmt: skip
BROKEN = sorted(p for p in (CORPUS / "invalid").iterdir() if p.name.endswith(SUFFIXES))


def test_the_corpus_has_the_variety_the_issue_asks_for() -> None:
    assert len(SAMPLES) >= 8
    kinds = {suffix for p in SAMPLES for suffix in SUFFIXES if p.name.endswith(suffix)}
    assert kinds >= {".json", ".json.gz", ".gz", ".zip", ".eml"}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_sample_parses_to_its_expected_values(sample: Path) -> None:
    expected = json.loads((CORPUS / f"{stem(sample)}.expected.json").read_text())
    loaded = load_reports(sample.read_bytes(), sample.name)
    assert [r.model_dump(mode="json") for r in loaded.reports] == [expected]


@pytest.mark.parametrize("sample", BROKEN, ids=lambda p: p.name)
def test_broken_sample_is_refused_with_its_reason(sample: Path) -> None:
    reason = (sample.parent / f"{stem(sample)}.reason.txt").read_text().strip().lower()
    with pytest.raises(ReportError) as caught:
        load_reports(sample.read_bytes(), sample.name)
    assert reason in str(caught.value).lower()


def test_mail_samples_carry_the_rfc_8460_headers() -> None:
    mail = load_reports((CORPUS / "giantmail-tlsrpt-gzip.eml").read_bytes()).mail
    assert mail is not None
    assert mail.report_domain and mail.report_submitter
