"""Cursor pagination for the lists that grow: a page of items and an opaque cursor to the next.

Keyset, not offset: the cursor holds the sort key of the last item sent, so a page costs one
indexed query however deep it is, and an item added meanwhile neither repeats nor hides another.
"""

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from ninja import Field, Schema

from domain.errors import DomainError
from web.contract import Document

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageParams(Schema):
    cursor: str | None = Field(
        default=None,
        max_length=200,
        description="next_cursor from the previous page; leave out for the first",
    )
    limit: int = Field(
        default=DEFAULT_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"items per page, at most {MAX_PAGE_SIZE}",
    )


class Page(Document):
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


@dataclass(frozen=True)
class Keyset:
    """The fields a list is sorted by, each ascending or "-descending", the last one unique."""

    fields: tuple[str, ...]

    def page(self, queryset, params: PageParams) -> tuple[list, str | None]:
        """One page of `queryset` (already filtered) and the cursor to the next, or None."""
        queryset = queryset.order_by(*self.fields)
        if params.cursor:
            queryset = queryset.filter(self._after(self._decode(params.cursor)))
        items = list(queryset[: params.limit + 1])
        if len(items) <= params.limit:
            return items, None
        items = items[: params.limit]
        return items, self._encode(items[-1])

    def _names(self) -> list[str]:
        return [field.lstrip("-") for field in self.fields]

    def _encode(self, item) -> str:
        values = []
        for name in self._names():
            value = getattr(item, name)
            values.append(value.isoformat() if isinstance(value, datetime) else value)
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    def _decode(self, cursor: str) -> list:
        try:
            values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if not isinstance(values, list) or len(values) != len(self.fields):
                raise ValueError
            return [
                datetime.fromisoformat(value) if isinstance(value, str) else _checked_int(value)
                for value in values
            ]
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise DomainError("invalid", "cursor is not one this list gave out", field="cursor") from exc

    def _after(self, values: list) -> Q:
        # (a, b) after (x, y) in this order: a beyond x, or a == x and b beyond y, and so on.
        condition = Q(pk__in=[])
        equal = Q()
        for field, value in zip(self.fields, values, strict=True):
            name = field.lstrip("-")
            beyond = Q(**{f"{name}__lt" if field.startswith("-") else f"{name}__gt": value})
            condition |= equal & beyond
            equal &= Q(**{name: value})
        return condition


def _checked_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**63 - 1:
        raise ValueError
    return value
