"""The OpenAPI document serves client generators and readers (issue 28)."""

import collections
import re

import pytest

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def document(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def parameter(document, path, method, name):
    return next(p for p in document["paths"][path][method]["parameters"] if p["name"] == name)


def test_every_operation_has_its_own_summary_and_description(document):
    descriptions = collections.Counter()
    for path, method, operation in operations(document):
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        descriptions[operation["description"]] += 1
    assert [d for d, n in descriptions.items() if n > 1] == []
    text = str(document)
    assert "replica" not in text.lower() and "core.db" not in text and "API.md" not in text


def test_error_responses_are_specific_and_use_the_envelope(document):
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, method, operation in operations(document):
        responses = operation["responses"]
        assert "4XX" not in responses, (method, path)
        for code in ("429", "503"):
            assert responses[code]["content"]["application/json"]["schema"] == envelope
        if "{" in path:
            assert "404" in responses, (method, path)
        if method in ("post", "patch"):
            assert {"400", "409"} <= set(responses), (method, path)
    assert {"401", "403"} <= set(document["paths"]["/api/v1/projects/"]["get"]["responses"])


def test_boolean_filters_are_booleans_and_path_parameters_are_declared_once(document):
    assert parameter(document, "/api/v1/blacklist/", "get", "active")["schema"] == {"type": "boolean"}
    assert parameter(document, "/api/v1/projects/", "get", "archived")["schema"] == {"type": "boolean"}
    for path, method, operation in operations(document):
        keys = [(p["in"], p["name"]) for p in operation.get("parameters", [])]
        assert len(keys) == len(set(keys)), (method, path, keys)
        in_path = {name for where, name in keys if where == "path"}
        assert in_path == set(re.findall(r"{(\w+)}", path)), (method, path)


def test_json_fields_are_objects_and_ordering_fields_are_listed(document):
    schemas = document["components"]["schemas"]
    assert schemas["ExperimentOutput"]["properties"]["config"]["type"] == "object"
    assert schemas["ProjectOutput"]["properties"]["settings"]["type"] == "object"
    ordering = parameter(document, "/api/v1/projects/", "get", "ordering")
    assert "name, created_at, updated_at" in ordering["description"]
    page_size = parameter(document, "/api/v1/projects/", "get", "page_size")
    assert page_size["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
