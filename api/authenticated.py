"""The one decorator of every operation that needs a signed-in caller."""
from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any, TypeVar, overload

from flask_jwt_extended import jwt_required
from flask_smorest.utils import deepupdate

from .auth import bearer, note_who_only

View = TypeVar("View", bound=Callable[..., Any])


@overload
def authenticated(view: View) -> View: ...
@overload
def authenticated(*, refresh: bool = False, fresh: bool = False, who_only: bool = False) -> Callable[[View], View]: ...


def authenticated(view: Callable[..., Any] | None = None, *, refresh: bool = False,
                  fresh: bool = False, who_only: bool = False) -> Any:
    """Require a valid bearer token (a refresh token if refresh, a fresh one if fresh), and say so in the contract.

    who_only: the view reads only who the caller is (token_holder_of_request,
    current_patient_id), so the token's check does not build the user. The
    check itself is the same; a view that asks for the user anyway gets it
    with one statement more.

    The check and its documentation come from one line, so no operation can
    check a token without declaring it, or declare one without checking it:
    the contract's security requirement is what makes api.extensions declare
    the operation's 401 (and 403) answers.
    """
    def decorate(view: View) -> View:
        checked = jwt_required(refresh=refresh, fresh=fresh)(view)
        if who_only:
            checked = _noting_who_only(checked)
        # jwt_required's functools.wraps shares the view's _apidoc dict: copy it
        # before adding, as flask-smorest's own doc() does, and add no call layer of our own.
        apidoc = deepcopy(getattr(view, "_apidoc", {}))
        apidoc["manual_doc"] = deepupdate(apidoc.get("manual_doc", {}), {"security": bearer})
        checked._apidoc = apidoc
        return checked

    return decorate if view is None else decorate(view)


def _noting_who_only(checked: View) -> View:
    @wraps(checked)
    def view(*args: Any, **kwargs: Any) -> Any:
        note_who_only()  # before the token's check, which reads it
        return checked(*args, **kwargs)

    return view  # type: ignore[return-value]
