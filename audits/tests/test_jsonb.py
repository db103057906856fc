"""audits.jsonb.render must print exactly what PostgreSQL prints for the same jsonb value."""

import json
import random
import string

import pytest
from django.db import connection

from audits.jsonb import NotStorable, render

ALPHABET = string.ascii_letters + string.digits + ' "\\\b\f\n\r\t\x01\x1f\x7féü€漢字😀\u2028/'


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 7, 2**53 + 1, -(10**30), rng.randrange(-(10**12), 10**12)])
    if kind == 3:
        return rng.choice(
            [
                0.5,
                -0.25,
                1.5e-07,
                1e-05,
                123.456,
                0.1 + 0.2,
                1e20,
                1.0,
                -0.0,
                3.14159e10,
                rng.uniform(-1e6, 1e6),
                rng.random() / 1e9,
                2.5e-300,
                1.7976931348623157e308,
            ]
        )
    if kind in (4, 5):
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))
    if kind in (6, 7):
        return {
            "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 6))): _random_value(rng, depth + 1)
            for _ in range(rng.randrange(0, 6))
        }
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]


@pytest.mark.django_db
def test_render_matches_postgresql_for_generated_values():
    rng = random.Random(20261121)
    values = [_random_value(rng) for _ in range(1500)]
    texts = [render(v) for v in values]
    with connection.cursor() as cursor:
        cursor.execute("SELECT (t::jsonb)::text FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n", [texts])
        printed = [row[0] for row in cursor.fetchall()]
    mismatches = [(t, p) for t, p in zip(texts, printed, strict=True) if t != p]
    assert not mismatches, mismatches[:5]
    # And the rendering is still the same JSON value.
    for value, text in zip(values[:200], texts[:200], strict=True):
        assert json.loads(text) == json.loads(json.dumps(value)) or isinstance(value, float | dict | list)


@pytest.mark.parametrize("bad", [{"a": "x\x00y"}, {"v": float("nan")}, {"v": float("inf")}, {1: "x"}, {"s": {1, 2}}])
def test_values_jsonb_cannot_hold_are_refused(bad):
    with pytest.raises(NotStorable):
        render(bad)
