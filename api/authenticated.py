"""The one decorator of every operation that needs a signed-in caller."""
from collections.abc import Callable
from copy import deepcopy
from typing import Any, TypeVar, overload

from flask_jwt_extended import jwt_required
from flask_smorest.utils import deepupdate

from .auth import bearer

View = TypeVar("View", bound=Callable[..., Any])


@overload
def authenticated(view: View) -> View: ...
@overload
def authenticated(*, refresh: bool = False, fresh: bool = False) -> Callable[[View], View]: ...


def authenticated(view: Callable[..., Any] | None = None, *, refresh: bool = False,
                  fresh: bool = False) -> Any:
    """Require a valid bearer token (a refresh token if refresh, a fresh one if fresh), and say so in the contract.

    The check and its documentation come from one line, so no operation can
    check a token without declaring it, or declare one without checking it:
    the contract's security requirement is what makes api.extensions declare
    the operation's 401 (and 403) answers.
    """
    def decorate(view: View) -> View:
        checked = jwt_required(refresh=refresh, fresh=fresh)(view)
        # jwt_required's functools.wraps shares the view's _apidoc dict: copy it
        # before adding, as flask-smorest's own doc() does, and add no call layer of our own.
        apidoc = deepcopy(getattr(view, "_apidoc", {}))
        apidoc["manual_doc"] = deepupdate(apidoc.get("manual_doc", {}), {"security": bearer})
        checked._apidoc = apidoc
        return checked

    return decorate if view is None else decorate(view)
