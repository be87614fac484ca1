"""Accepting answers. Every transport (HTTP, WebSocket, Firebase inbox) comes through here, and
every accepted answer is written by the process's one answer writer (responses/intake.py, whose
docstring states the invariants)."""

import asyncio
import re
import time
from concurrent.futures import Future
from typing import Any

from django.db import InterfaceError, OperationalError, transaction

from domain import untrusted
from domain.errors import DomainError
from observability import instrument
from responses import intake
from responses.intake import Submitted
from responses.models import SOURCE_CHOICES, Response
from runtime import threads
from sessions.models import Session, Student

__all__ = ["Submitted", "set_starred", "submit_response", "submit_response_async", "submit_responses"]

SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_SOURCES = {value for value, _label in SOURCE_CHOICES}


def submit_response(
    *,
    student: Student,
    question_id: Any,
    submission_id: Any,
    answer: Any,
    source: str,
    order: Any = None,
) -> Submitted:
    """Stores a student's answer (or recognises a replay of one) and returns what is stored.

    `order` is the student's own order of their submissions (an integer, 0 <= order < 2**53): a
    later-arriving answer with a smaller order than the stored one does not replace it and is
    answered `superseded`. Refusals are DomainErrors; a database that cannot be reached is
    `unavailable` (the client sends the same submission_id again, which counts once).
    """
    started = time.perf_counter()
    [future] = submit_responses(
        [
            {
                "student": student,
                "question_id": question_id,
                "submission_id": submission_id,
                "answer": answer,
                "source": source,
                "order": order,
            }
        ]
    )
    try:
        submitted = intake.wait(future)
    except (OperationalError, InterfaceError) as exc:
        raise DomainError("unavailable", "Answers cannot be stored right now; send it again.") from exc
    instrument.answer_handled(submitted, transport=source, seconds=time.perf_counter() - started)
    return submitted


async def submit_response_async(**arguments) -> Submitted:
    """submit_response for a caller on the event loop (a socket's `submit`): the answer is
    checked and queued on a request thread, and its outcome awaited on the loop, so no thread
    waits for the batch's commit and one process's sockets fill the writer's batches."""
    started = time.perf_counter()
    # With the class's record cached (the usual case: it is read when the socket connects) the
    # answer is checked and queued right here on the loop, with no thread hop and no query.
    answer = _checked(**arguments, cached_only=True)
    if answer is not None:
        [future] = intake.writer().submit([answer])
    else:
        [future] = await threads.in_pool(submit_responses)([arguments])
    try:
        submitted = await asyncio.wait_for(asyncio.wrap_future(future), intake.WAIT_SECONDS)
    except TimeoutError as exc:
        raise DomainError("unavailable", "Answers are not being stored right now; send it again.") from exc
    except (OperationalError, InterfaceError) as exc:
        raise DomainError("unavailable", "Answers cannot be stored right now; send it again.") from exc
    instrument.answer_handled(submitted, transport=arguments["source"], seconds=time.perf_counter() - started)
    return submitted


def submit_responses(answers: list[dict]) -> list[Future]:
    """Many answers at once (the Firebase worker's intake), each a dict of submit_response's
    arguments; returns a Future per answer, resolved with its Submitted or its refusal (a
    DomainError; any other error met checking one answer is that answer's alone), or with the
    database's error when the batch could not be stored."""
    futures: list[Future | None] = [None] * len(answers)
    checked: list[intake.Answer] = []
    positions: list[int] = []
    for index, given in enumerate(answers):
        try:
            item = _checked(**given)
        except Exception as refusal:  # a DomainError, or anything else: this answer's alone
            futures[index] = Future()
            futures[index].set_exception(refusal)
            continue
        checked.append(item)
        positions.append(index)
    for index, future in zip(positions, intake.enqueue(checked) if checked else [], strict=True):
        futures[index] = future
    return futures


def _checked(
    *,
    student: Student,
    question_id: Any,
    submission_id: Any,
    answer: Any,
    source: str,
    order: Any = None,
    cached_only: bool = False,
) -> intake.Answer | None:
    if source not in _SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if not isinstance(submission_id, str) or not SUBMISSION_ID.match(submission_id):
        raise DomainError(
            "invalid",
            "submission_id must be 1-64 characters of letters, digits and _.:-",
            field="submission_id",
        )
    if not untrusted.is_id(question_id):
        raise DomainError("invalid", "question_id must be a positive integer", field="question_id")
    return intake.cleaned(
        student_id=student.pk,
        session_id=student.session_id,
        question_id=question_id,
        submission_id=submission_id,
        answer=answer,
        source=source,
        order=intake.check_order(order),
        cached_only=cached_only,
    )


@transaction.atomic
def set_starred(*, session: Session, response_id: int, starred: bool) -> Response:
    response = Response.objects.select_for_update().filter(session=session, pk=response_id).first()
    if response is None:
        raise DomainError(
            "response_not_found", f"No response {response_id} in this session.", field="response_id"
        )
    if response.starred != starred:
        response.starred = starred
        # Not updated_at: it says when the answer last changed, and the CSV's answered_at reads it.
        response.save(update_fields=["starred"])
    return response
