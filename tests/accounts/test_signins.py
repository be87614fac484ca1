"""peardeck_teacher_sign_ins_total takes only declared label values, each at zero from the start."""

import pytest
from prometheus_client import REGISTRY

from observability import instrument, signins


def test_every_declared_sign_in_series_exists_at_zero_after_a_worker_starts(db):
    instrument.create_declared_series(answer_kinds=())
    for provider in signins.OIDC_PROVIDERS:
        for outcome in signins.OIDC_OUTCOMES:
            labels = {"provider": provider, "outcome": outcome}
            assert REGISTRY.get_sample_value("peardeck_teacher_sign_ins_total", labels) is not None
    for outcome in signins.PASSWORD_OUTCOMES:
        labels = {"provider": "password", "outcome": outcome}
        assert REGISTRY.get_sample_value("peardeck_teacher_sign_ins_total", labels) is not None


@pytest.mark.parametrize(
    ("provider", "outcome"),
    [("github", "signed_in"), ("google", "anything"), ("password", "invalid_token")],
)
def test_an_undeclared_label_value_is_never_counted(provider, outcome):
    with pytest.raises(ValueError, match="undeclared"):
        signins.count(provider, outcome)
