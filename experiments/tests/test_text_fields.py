"""Free text through the services: the admin and the commands call them without the
API's parser, so the services themselves refuse what PostgreSQL text cannot hold."""

import pytest

from core.exceptions import ValidationFailed
from core.validation import clean_text
from experiments import services
from experiments.models import Experiment


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("  kept  ", {}, "kept"),
        (None, {}, ""),
        ("x" * 5, {"max_length": 5}, "xxxxx"),
    ],
)
def test_clean_text_accepts_and_strips(value, kwargs, expected):
    assert clean_text(value, "f", **{"max_length": 100, **kwargs}) == expected


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ("a\x00b", {}, "NUL characters are not allowed."),
        ("   ", {"required": True}, "This field may not be blank."),
        ("x" * 6, {"max_length": 5}, "At most 5 characters."),
        (7, {}, "Must be text."),
        (None, {"allow_none": False}, "Must be text."),
    ],
)
def test_clean_text_refuses_with_the_field_named(value, kwargs, message):
    with pytest.raises(ValidationFailed) as caught:
        clean_text(value, "note", **{"max_length": 100, **kwargs})
    assert caught.value.details == {"note": [message]}


def test_a_nul_in_an_experiment_description_is_a_validation_error_and_writes_nothing(project, regular_user):
    before = Experiment.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        services.experiment_create(
            project=project, name="nul", config={"k": 1}, description="a\x00b", actor=regular_user
        )
    assert "description" in caught.value.details
    assert Experiment.objects.count() == before
