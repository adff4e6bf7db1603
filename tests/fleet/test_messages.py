"""Pydantic's errors in fleet's words: what the value must be, never the value."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fleet.messages import plain_message


class Inner(BaseModel):
    x: int = 0


class Sample(BaseModel):
    model_config = ConfigDict(strict=True)

    count: int = Field(default=1, ge=1, le=50)
    ratio: float = Field(default=0.5, gt=0, lt=1)
    flag: bool = False
    kind: Literal["a", "b"] = "a"
    tag: str = Field(default="v1", pattern=r"^v[0-9]$")
    items: list[str] = Field(default_factory=lambda: ["x"], min_length=1, max_length=2)
    inner: Inner = Field(default_factory=Inner)


def message(**data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(data)
    return plain_message(caught.value.errors(include_url=False)[0])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"count": 0}, "must be at least 1"),
        ({"count": 51}, "must be at most 50"),
        ({"ratio": 0.0}, "must be more than 0"),
        ({"ratio": 1.0}, "must be less than 1"),
        ({"count": "3"}, "expected a whole number"),
        ({"flag": "yes"}, "expected true or false"),
        ({"kind": "c"}, "expected 'a' or 'b'"),
        ({"tag": "latest"}, "does not match the pattern ^v[0-9]$"),
        ({"items": []}, "needs at least 1 item"),
        ({"items": ["a", "b", "c"]}, "takes at most 2 items"),
        ({"inner": "hunter2"}, "expected a mapping"),
    ],
)
def test_each_kind_says_what_the_value_must_be_without_repeating_it(
    data: dict[str, Any], expected: str
) -> None:
    said = message(**data)
    assert said == expected
    assert "Input should" not in said and "Inner" not in said and "hunter2" not in said


def test_a_validators_own_words_are_kept() -> None:
    item = {"type": "value_error", "msg": "Value error, '1.5d' is not a duration", "ctx": {}}
    assert plain_message(item) == "'1.5d' is not a duration"
