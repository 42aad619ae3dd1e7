"""Strict fields: a phone that sends "5" or true where a number belongs has a bug
we want to hear about, not a value we guess at."""
import numbers
import re

from marshmallow import ValidationError, fields, validate

_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DIGITS = re.compile(r"\d+", re.ASCII)
# More digits than any number a query here can mean: refused as too large
# before int(), which Python itself refuses past 4,300 digits.
_LONGEST_QUERY_NUMBER = 100


class StrictInteger(fields.Integer):
    """An integer that refuses strings, floats and booleans."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class QueryInteger(fields.Integer):
    """A whole number in a query string ("2"), where every value arrives as text.

    Only plain digits: not "2.0", "+2", " 2" or "2_000", which int() would take.
    Any number of them: a value past the field's range gets the range's message.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not _DIGITS.fullmatch(value):
                raise self.make_error("invalid", input=value)
            if len(value) > _LONGEST_QUERY_NUMBER:
                raise self.make_error("too_large", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


# Ids are 32-bit integer columns; a larger number can name no record, and
# handed to the database it overflows the driver instead of missing.
LARGEST_ID = 2_147_483_647


def record_id_range() -> validate.Range:
    return validate.Range(min=1, max=LARGEST_ID)


class RecordId(StrictInteger):
    """The id of a record in a JSON body: a whole number from 1 to 2^31 - 1."""

    def __init__(self, **kwargs):
        super().__init__(validate=record_id_range(), **kwargs)


class QueryRecordId(QueryInteger):
    """The id of a record in a query string."""

    def __init__(self, **kwargs):
        super().__init__(validate=record_id_range(), **kwargs)


class StrictFloat(fields.Float):
    """A number that refuses strings, booleans, NaN and infinity; -0.0 reads as 0.0."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.make_error("invalid", input=value)
        # + 0.0 turns -0.0 into 0.0: the same hours, without a "-0.0" stored and echoed back.
        return super()._deserialize(value, attr, data, **kwargs) + 0.0


def quarter_hours(value: float) -> None:
    """Refuse hours that are not whole quarter hours."""
    # is_integer(), not int(): four times a double past ~4.5e307 is infinity,
    # and int(infinity) raises OverflowError (a 500) instead of refusing.
    if not (value * 4).is_integer():
        raise ValidationError("Use steps of 0.25 hours.")


class FullMatch(validate.Regexp):
    """A pattern the whole value must match.

    Regexp uses re.match, where "$" also matches before a final newline, so
    "^[a-z]+$" takes "code\\n". The pattern keeps its ^...$ for the OpenAPI
    document (ECMA-262's $ has no such exception); fullmatch enforces it here.
    """

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class StrictBoolean(fields.Boolean):
    """true or false only: never "yes", 1 or "on"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Day(fields.Date):
    """A calendar day written exactly YYYY-MM-DD.

    date.fromisoformat alone would also take "20261123" and ISO week dates
    ("2026-W48-1"); the contract promises RFC 3339 full-date only.
    Years 1900 to 9998 only: the calendar's own edges (0001-01-01,
    9999-12-31) are typos here, and a week or window around them overflows
    Python's date arithmetic into a 500.
    """

    default_error_messages = {"range": "Use a year from 1900 to 9998."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _FULL_DATE.fullmatch(value):
            raise self.make_error("invalid", input=value)
        day = super()._deserialize(value, attr, data, **kwargs)
        if not 1900 <= day.year <= 9998:
            raise self.make_error("range")
        return day


class Text(fields.String):
    """A string the database can store: NUL and lone surrogates are refused, not a 500.

    JSON may carry "\\ud800" (valid JSON, not valid UTF-8); the drivers fail on it.
    """

    default_error_messages = {
        "nul": "Must not contain NUL characters.",
        "surrogate": "Must be valid Unicode text (no unpaired surrogates).",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise self.make_error("nul")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("surrogate") from None
        return value
