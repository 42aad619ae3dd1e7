"""Pages of a list: every list endpoint counts and cuts its rows the same way."""
from typing import Any, TypeVar

from sqlalchemy import Select, func, select

from models import db

Row = TypeVar("Row", bound=tuple[Any, ...])


def one_page(query: Select[Row], page: int, page_size: int) -> tuple[Select[Row], int]:
    """Return query cut to one page (pages count from 1) and how many rows it has in all."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return query.limit(page_size).offset((page - 1) * page_size), total or 0
